/**
 * The one HTTP client every API destination uses: JSON or form bodies over kept-alive node:http(s)
 * connections, within the credential's rate limit, through the destination's circuit breaker, with a
 * timeout per attempt, retries with backoff and jitter (Retry-After honoured), and one token renewal after
 * a 401. Errors keep method, URL, status and a trimmed body, never headers.
 *
 * What is retried here: a 429 and a refused connection always (nothing was applied); 5xx, timeouts and
 * dropped connections only when repeating the request cannot apply a change twice (`idempotent`, the
 * default for everything but POST). A create that may or may not have been applied goes back to the caller
 * as a TransientError: the delivery layer keeps its records pending, and the next pass looks them up first.
 */
import http from "node:http";
import https from "node:https";
import { scrubSecrets } from "../config/secrets.ts";
import { PermanentError, TransientError } from "../errors.ts";
import type { Auth } from "./auth.ts";
import { type BackoffPolicy, backoffDelay, DEFAULT_BACKOFF, sleep } from "./backoff.ts";
import type { Breaker } from "./breaker.ts";
import type { TokenBucket } from "./rate-limit.ts";

export interface HttpClientOptions {
  /** The API's name in messages: `HubSpot`, `Salesforce`, the destination's name. */
  service: string;
  /** Where relative paths go; an Auth that names an instance URL (Salesforce) overrides it. */
  baseUrl: string;
  auth: Auth;
  bucket: TokenBucket | null;
  breaker: Breaker | null;
  timeoutMs: number;
  /** Attempts of one request before its error goes back to the caller. Default 4. */
  attempts?: number;
  backoff?: BackoffPolicy;
  random?: () => number;
  /** Pulls the API's own message out of an error body, for error messages. */
  messageOf?: (body: unknown) => string | undefined;
  /** An API that signals its rate limit with another status than 429 (Salesforce: 403 REQUEST_LIMIT_EXCEEDED). */
  rateLimited?: (status: number, body: unknown) => boolean;
}

export interface HttpRequest {
  method: string;
  /** A path under the base URL, or an absolute URL. */
  path: string;
  query?: Record<string, string>;
  json?: unknown;
  form?: Record<string, string>;
  headers?: Record<string, string>;
  /** Whether sending it twice is harmless. Default: true for every method but POST. */
  idempotent?: boolean;
  /** Statuses answered as a response rather than thrown (e.g. 404 for a lookup). */
  accept?: readonly number[];
}

export interface HttpResponse<T = unknown> {
  status: number;
  body: T;
  headers: http.IncomingHttpHeaders;
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** Errors raised before a byte of the request could have reached the server. */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** One exchange over a kept-alive connection. Rejects with the socket's error, or the signal's. */
export function exchange(
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
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Retry-After as milliseconds: seconds, or an HTTP date. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function trimBody(text: string, max = 500): string {
  const clean = scrubSecrets(text);
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

function parse(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export class HttpClient {
  readonly #o: HttpClientOptions;
  readonly #agents = new Map<string, http.Agent>();

  constructor(options: HttpClientOptions) {
    this.#o = options;
  }

  get service(): string {
    return this.#o.service;
  }

  #agent(url: URL): http.Agent {
    let agent = this.#agents.get(url.origin);
    if (!agent) {
      agent = url.protocol === "https:" ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
      this.#agents.set(url.origin, agent);
    }
    return agent;
  }

  /** Closes the kept-alive connections. */
  close(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }

  async request<T = unknown>(req: HttpRequest, signal: AbortSignal): Promise<HttpResponse<T>> {
    const o = this.#o;
    const attempts = o.attempts ?? 4;
    const idempotent = req.idempotent ?? req.method !== "POST";
    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.#attempt<T>(req, signal);
      if ("response" in outcome) return outcome.response;
      const { error, retryable } = outcome;
      if (error.code === "DEST_UNAUTHORIZED" && !renewed && o.auth.renew?.()) {
        renewed = true;
        attempt--;
        continue;
      }
      const again =
        retryable === "always" || (retryable === "if-idempotent" && idempotent) ? attempt < attempts : false;
      if (!again) throw error;
      const hinted = error instanceof TransientError ? error.retryAfterMs : undefined;
      const wait = backoffDelay(attempt, o.backoff ?? DEFAULT_BACKOFF, hinted, o.random);
      await sleep(wait, signal);
    }
  }

  async #attempt<T>(
    req: HttpRequest,
    signal: AbortSignal,
  ): Promise<
    | { response: HttpResponse<T> }
    | { error: TransientError | PermanentError; retryable: "always" | "if-idempotent" | "never" }
  > {
    const o = this.#o;
    await o.bucket?.take(signal);
    const credentials = await o.auth.credentials(signal);
    const base = credentials.baseUrl ?? o.baseUrl;
    const url = new URL(/^https?:\/\//.test(req.path) ? req.path : `${base.replace(/\/$/, "")}${req.path}`);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const shown = `${req.method} ${url.origin}${url.pathname}`;
    const headers: Record<string, string> = { accept: "application/json", ...req.headers, ...credentials.headers };
    let payload: string | undefined;
    if (req.json !== undefined) {
      payload = JSON.stringify(req.json);
      headers["content-type"] = "application/json";
    } else if (req.form !== undefined) {
      payload = new URLSearchParams(req.form).toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
    }
    if (payload !== undefined) headers["content-length"] = String(Buffer.byteLength(payload));
    const details = { method: req.method, url: `${url.origin}${url.pathname}` };

    const send = async (): Promise<RawResponse> => {
      try {
        return await exchange(
          url,
          this.#agent(url),
          req.method,
          headers,
          payload,
          AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs)]),
        );
      } catch (e) {
        signal.throwIfAborted();
        const err = e as NodeJS.ErrnoException;
        const timedOut = err.name === "TimeoutError" || err.name === "AbortError";
        throw new TransientError(
          timedOut ? "DEST_TIMEOUT" : "DEST_UNREACHABLE",
          timedOut
            ? `${o.service} did not answer ${shown} within ${o.timeoutMs} ms`
            : `${shown} failed: ${scrubSecrets(err.message)}`,
          { details: { ...details, network: err.code ?? err.name } },
        );
      }
    };
    /** 5xx, 408 and 429 fail the attempt inside the breaker so that it can count them (429 excepted). */
    const call = async (): Promise<RawResponse> => {
      const raw = await send();
      if (raw.status >= 500 || raw.status === 408) {
        const body = trimBody(raw.text);
        throw new TransientError(
          raw.status === 408 ? "DEST_TIMEOUT" : "DEST_UNAVAILABLE",
          `${o.service} answered ${raw.status} to ${shown}${this.#message(raw.text)}`,
          { details: { ...details, status: raw.status, body }, retryAfterMs: retryAfterMs(raw.headers["retry-after"]) },
        );
      }
      return raw;
    };

    let raw: RawResponse;
    try {
      raw = await (o.breaker ? o.breaker.run(call, signal) : call());
    } catch (e) {
      if (!(e instanceof TransientError)) throw e;
      const network = (e.details as { network?: string }).network;
      if (e.code === "DEST_CIRCUIT_OPEN") return { error: e, retryable: "never" };
      if (network && NOT_SENT.has(network)) return { error: e, retryable: "always" };
      // 502 and 503 come from a gateway or an overloaded API that did not take the request in.
      const status = (e.details as { status?: number }).status;
      return { error: e, retryable: status === 502 || status === 503 ? "always" : "if-idempotent" };
    }

    const { status } = raw;
    if ((status >= 200 && status < 300) || req.accept?.includes(status)) {
      return { response: { status, body: parse(raw.text) as T, headers: raw.headers } };
    }
    const body = trimBody(raw.text);
    const withStatus = { ...details, status, body };
    if (status === 429 || o.rateLimited?.(status, parse(raw.text))) {
      return {
        error: new TransientError("DEST_RATE_LIMITED", `${o.service} answered ${status} (rate limited) to ${shown}${this.#message(raw.text)}`, {
          details: withStatus,
          retryAfterMs: retryAfterMs(raw.headers["retry-after"]),
        }),
        retryable: "always",
      };
    }
    if (status === 401 || status === 403) {
      return {
        error: new PermanentError(
          "DEST_UNAUTHORIZED",
          `${o.service} refused the credentials (${status}${this.#message(raw.text)}); check the destination's credentials and their scopes`,
          { details: withStatus },
        ),
        retryable: "never",
      };
    }
    return {
      error: new PermanentError("DEST_REJECTED", `${o.service} answered ${status} to ${shown}${this.#message(raw.text)}`, {
        details: withStatus,
      }),
      retryable: "never",
    };
  }

  #message(text: string): string {
    const parsed = parse(text);
    const fromApi = parsed === undefined ? undefined : this.#o.messageOf?.(parsed);
    const message = fromApi ?? (typeof parsed === "string" ? parsed : undefined);
    return message ? `: ${trimBody(message, 300)}` : "";
  }
}
