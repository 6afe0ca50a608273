/**
 * The only code that talks to HubSpot: JSON over HTTPS with a bearer token, within the rate limit, with
 * 429 and 5xx retried (Retry-After honoured) a few times before the error goes back to the caller. Errors
 * keep method, URL, status and a trimmed body; never headers.
 */
import type { Secret } from "../../config/secrets.ts";
import {
  type BackoffPolicy,
  backoffDelay,
  DEFAULT_BACKOFF,
  sleep,
  type TokenBucket,
} from "../../delivery/backoff.ts";
import { PermanentError, TransientError } from "../../errors.ts";

export interface HubSpotClientOptions {
  baseUrl: string;
  token: Secret;
  bucket: TokenBucket | null;
  timeoutMs: number;
  /** Attempts of one request before its error goes back to the caller. */
  attempts?: number;
  backoff?: BackoffPolicy;
}

export interface HubSpotResponse<T> {
  status: number;
  body: T;
}

export class HubSpotClient {
  readonly #o: HubSpotClientOptions;
  constructor(options: HubSpotClientOptions) {
    this.#o = options;
  }

  async request<T>(
    method: string,
    path: string,
    body: unknown,
    signal: AbortSignal,
  ): Promise<HubSpotResponse<T>> {
    const url = `${this.#o.baseUrl.replace(/\/$/, "")}${path}`;
    const attempts = this.#o.attempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      await this.#o.bucket?.take(signal);
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${this.#o.token.reveal()}`,
            "content-type": "application/json",
            accept: "application/json",
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.#o.timeoutMs)]),
        });
      } catch (e) {
        signal.throwIfAborted();
        const error = new TransientError(
          "DEST_UNREACHABLE",
          `${method} ${url} failed: ${(e as Error).message}`,
          {
            cause: e,
            details: { method, url },
          },
        );
        if (attempt >= attempts) throw error;
        await sleep(backoffDelay(attempt, this.#o.backoff ?? DEFAULT_BACKOFF), signal);
        continue;
      }
      const text = await res.text();
      if (res.ok) return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
      const trimmed = text.length > 500 ? `${text.slice(0, 500)}…` : text;
      const details = { method, url, status: res.status, body: trimmed };
      if (res.status === 429 || res.status >= 500 || res.status === 408) {
        const header = res.headers.get("retry-after");
        const retryAfterMs = header && /^\d+$/.test(header) ? Number(header) * 1000 : undefined;
        const error = new TransientError(
          res.status === 429 ? "DEST_RATE_LIMITED" : "DEST_UNAVAILABLE",
          `HubSpot answered ${res.status} to ${method} ${path}`,
          { details, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
        );
        if (attempt >= attempts) throw error;
        await sleep(backoffDelay(attempt, this.#o.backoff ?? DEFAULT_BACKOFF, retryAfterMs), signal);
        continue;
      }
      const message = safeMessage(text);
      if (res.status === 401 || res.status === 403) {
        throw new PermanentError(
          "DEST_UNAUTHORIZED",
          `HubSpot refused the token (${res.status}${message ? `: ${message}` : ""}); check the destination's token and its scopes`,
          { details },
        );
      }
      throw new PermanentError(
        "DEST_REJECTED",
        `HubSpot answered ${res.status} to ${method} ${path}${message ? `: ${message}` : ""}`,
        {
          details,
        },
      );
    }
  }
}

function safeMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    return typeof parsed.message === "string" ? parsed.message.slice(0, 300) : "";
  } catch {
    return "";
  }
}
