/**
 * The signature of a webhook alert: header `X-Ferry-Signature: t=<unix seconds>,v1=<hex>`, where v1 is the
 * HMAC-SHA256, keyed with the channel's `secret`, of `<t>.<body>` (the body as the bytes sent). A receiver
 * recomputes v1 over the raw body, compares in constant time, and refuses a `t` too far from its clock (a
 * replayed request).
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "X-Ferry-Signature";

/** The header's value for `body` sent at `t` (unix seconds). */
export function signatureHeader(secret: string, t: number, body: string): string {
  return `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")}`;
}

/**
 * Whether a header signs `body` with `secret`, within `toleranceSeconds` of `now` (unix seconds): what a
 * receiver checks (Ferry's own tests check with it).
 */
export function verifySignature(header: string, body: string, secret: string, now: number, toleranceSeconds = 300): boolean {
  const parts = new Map(header.split(",").map((p) => p.trim().split("=", 2) as [string, string]));
  const t = Number(parts.get("t"));
  const v1 = parts.get("v1") ?? "";
  if (!Number.isInteger(t) || Math.abs(now - t) > toleranceSeconds || !/^[0-9a-f]{64}$/.test(v1)) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, "hex"));
}
