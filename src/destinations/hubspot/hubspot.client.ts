/**
 * The only code that talks to HubSpot: JSON over HTTPS with a bearer token, within the rate limit, with
 * 429 and 5xx retried (Retry-After honoured) a few times before the error goes back to the caller. Errors
 * keep method, URL, status and a trimmed body; never headers.
 */
import http from "node:http";
import https from "node:https";
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

interface RawResponse {
  status: number;
  retryAfter: string | undefined;
  text: string;
}

/**
 * One HTTP exchange with node:http(s) over kept-alive connections. (fetch costs twice the CPU per request,
 * in its stream and Request machinery, and a sync makes two requests per hundred records.) Rejects with
 * the socket's error, or the signal's when it aborts.
 */
function exchange(
  url: URL,
  agent: http.Agent,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  signal: AbortSignal,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === "https:" ? https.request : http.request;
    const req = send(url, { method, headers, agent, signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const retryAfter = res.headers["retry-after"];
        resolve({
          status: res.statusCode ?? 0,
          retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
          text: Buffer.concat(chunks).toString("utf8"),
        });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

export class HubSpotClient {
  readonly #o: HubSpotClientOptions;
  readonly #agent: http.Agent;
  constructor(options: HubSpotClientOptions) {
    this.#o = options;
    this.#agent = options.baseUrl.startsWith("https:")
      ? new https.Agent({ keepAlive: true })
      : new http.Agent({ keepAlive: true });
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.#agent.destroy();
  }

  async request<T>(
    method: string,
    path: string,
    body: unknown,
    signal: AbortSignal,
  ): Promise<HubSpotResponse<T>> {
    const url = `${this.#o.baseUrl.replace(/\/$/, "")}${path}`;
    const target = new URL(url);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const attempts = this.#o.attempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      await this.#o.bucket?.take(signal);
      const headers: Record<string, string> = {
        authorization: `Bearer ${this.#o.token.reveal()}`,
        "content-type": "application/json",
        accept: "application/json",
      };
      if (payload !== undefined) headers["content-length"] = String(Buffer.byteLength(payload));
      let res: RawResponse;
      try {
        res = await exchange(
          target,
          this.#agent,
          method,
          headers,
          payload,
          AbortSignal.any([signal, AbortSignal.timeout(this.#o.timeoutMs)]),
        );
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
      const { status, text } = res;
      if (status >= 200 && status < 300) return { status, body: (text ? JSON.parse(text) : undefined) as T };
      const trimmed = text.length > 500 ? `${text.slice(0, 500)}…` : text;
      const details = { method, url, status, body: trimmed };
      if (status === 429 || status >= 500 || status === 408) {
        const header = res.retryAfter;
        const retryAfterMs = header && /^\d+$/.test(header) ? Number(header) * 1000 : undefined;
        const error = new TransientError(
          status === 429 ? "DEST_RATE_LIMITED" : "DEST_UNAVAILABLE",
          `HubSpot answered ${status} to ${method} ${path}`,
          { details, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
        );
        if (attempt >= attempts) throw error;
        await sleep(backoffDelay(attempt, this.#o.backoff ?? DEFAULT_BACKOFF, retryAfterMs), signal);
        continue;
      }
      const message = safeMessage(text);
      if (status === 401 || status === 403) {
        throw new PermanentError(
          "DEST_UNAUTHORIZED",
          `HubSpot refused the token (${status}${message ? `: ${message}` : ""}); check the destination's token and its scopes`,
          { details },
        );
      }
      throw new PermanentError(
        "DEST_REJECTED",
        `HubSpot answered ${status} to ${method} ${path}${message ? `: ${message}` : ""}`,
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
