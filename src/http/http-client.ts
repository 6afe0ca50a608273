/**
 * The one HTTP client every API destination uses: JSON or form bodies over kept-alive node:http(s)
 * connections, within the credential's rate limit, through the destination's circuit breaker, with a
 * timeout per attempt, retries with backoff and jitter (Retry-After honoured), and one token renewal after
 * a 401. Errors keep method, URL, status and a trimmed body, never headers.
 *
 * What is retried here: a 429, a refused connection, 502 and 503 always (nothing was applied); 504,
 * timeouts and dropped connections only when repeating the request cannot apply a change twice
 * (`idempotent`, the default for everything but POST). A create that may or may not have been applied goes
 * back to the caller as a TransientError: the delivery layer keeps its records pending, and the next pass
 * looks them up first. Any other 5xx (a 500) is not repeated: the API failed on this request, perhaps
 * because of a record in it, and DEST_SERVER_ERROR leaves it to the delivery layer to find out (it sends
 * the batch again in halves). A 401 or 403 renews a token that can be renewed and retries at once; refused
 * again, or not renewable, it is DEST_UNAUTHORIZED naming the configuration fields to check.
 */
import http from "node:http";
import https from "node:https";
import { scrubSecrets } from "../config/secrets.ts";
import { PermanentError, TransientError } from "../errors.ts";
import { sleep } from "../sleep.ts";
import type { Auth, Credentials } from "./auth.ts";
import { type BackoffPolicy, backoffDelay, DEFAULT_BACKOFF } from "./backoff.ts";
import { type Breaker, isCircuitOpen } from "./breaker.ts";
import { exchange, parseBody, type RawResponse, retryAfterMs, trimBody } from "./exchange.ts";
import { m, statusClass } from "../metrics.ts";
import type { TokenBucket } from "./rate-limit.ts";

/** 5xx statuses that say the API as a whole is down (a gateway, an overload), not that it failed on this request. */
const DOWN_STATUSES = new Set([502, 503, 504]);

export interface HttpClientOptions {
  /** The API's name in messages: `HubSpot`, `Salesforce`, the destination's name. */
  service: string;
  /** The destination the client serves, for metrics (default: `service`). */
  destination?: string;
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
  /**
   * Where the credentials are configured, for the message of a refusal: `destinations.crm.token
   * (${env:CRM_TOKEN})`. Default: "the destination's credentials".
   */
  credentialsAt?: string;
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
  /** The body parsed as JSON; the text itself when it is not JSON; undefined when empty. */
  body: T;
  headers: http.IncomingHttpHeaders;
  /** The body as received. */
  text: string;
  /** The request's method and URL (without its query), as an error's details name them. */
  request: { method: string; url: string };
}

/**
 * What an error or the dead-letter queue keeps of an answer: method, URL, status and the body as received,
 * trimmed, secrets scrubbed.
 */
export function answerDetails(res: HttpResponse): { method: string; url: string; status: number; body: string } {
  return { ...res.request, status: res.status, body: trimBody(res.text) };
}

/** Errors raised before a byte of the request could have reached the server. */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/**
 * Whether a failed attempt is tried again: always (nothing was applied), only when the request is
 * idempotent (it may have been applied), never, or once after the credential is renewed (a 401 or 403).
 */
type Retry = "always" | "if-idempotent" | "never" | "after-renewal";

type Outcome<T> = { response: HttpResponse<T> } | Failure;
type Failure = { error: TransientError | PermanentError; retry: Retry };

/** A request as it goes out: its URL, headers and body, and how messages and errors name it. */
interface Prepared {
  method: string;
  url: URL;
  headers: Record<string, string>;
  payload: string | undefined;
  /** `POST https://host/path`, for messages. */
  shown: string;
  /** Method and URL without the query, for an error's details. */
  details: { method: string; url: string };
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

  /** Empties the rate-limit bucket (TokenBucket.drain): for a destination this process takes over. */
  drainRateLimit(): void {
    this.#o.bucket?.drain();
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
      const { error, retry } = outcome;
      if (retry === "after-renewal" && !renewed && o.auth.renew?.()) {
        renewed = true;
        attempt--;
        continue;
      }
      const again = retry === "always" || (retry === "if-idempotent" && idempotent) ? attempt < attempts : false;
      if (!again) throw error;
      const hinted = error instanceof TransientError ? error.retryAfterMs : undefined;
      const wait = backoffDelay(attempt, o.backoff ?? DEFAULT_BACKOFF, hinted, o.random);
      await sleep(wait, signal);
    }
  }

  /** One attempt: within the rate limit, with fresh credentials, through the breaker; the answer classified. */
  async #attempt<T>(req: HttpRequest, signal: AbortSignal): Promise<Outcome<T>> {
    if (this.#o.bucket) {
      const waiting = performance.now();
      await this.#o.bucket.take(signal);
      const waited = (performance.now() - waiting) / 1000;
      if (waited > 0.001) m.rateLimitWaits.inc({ api: this.#o.service }, waited);
    }
    const prepared = this.#prepare(req, await this.#credentials(signal));
    const raw = await this.#sendThroughBreaker(prepared, signal);
    return "error" in raw ? raw : this.#answer<T>(req, prepared, raw);
  }

  /** The credentials; a token endpoint's refusal names where they are configured. */
  async #credentials(signal: AbortSignal): Promise<Credentials> {
    try {
      return await this.#o.auth.credentials(signal);
    } catch (e) {
      if (!(e instanceof PermanentError && e.code === "DEST_UNAUTHORIZED")) throw e;
      throw new PermanentError("DEST_UNAUTHORIZED", `${e.message}; check ${this.#credentialsAt}`, { details: e.details, cause: e });
    }
  }

  get #credentialsAt(): string {
    return this.#o.credentialsAt || "the destination's credentials";
  }

  /** The request as it goes out: under the credential's base URL, with its headers and body. */
  #prepare(req: HttpRequest, credentials: Credentials): Prepared {
    const base = credentials.baseUrl ?? this.#o.baseUrl;
    const url = new URL(/^https?:\/\//.test(req.path) ? req.path : `${base.replace(/\/$/, "")}${req.path}`);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
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
    const where = `${url.origin}${url.pathname}`;
    return { method: req.method, url, headers, payload, shown: `${req.method} ${where}`, details: { method: req.method, url: where } };
  }

  /**
   * Sends through the destination's breaker. A failure of the API (unreachable, timing out, 5xx, 408) comes
   * back as a Failure, with whether trying again can apply the request twice.
   */
  async #sendThroughBreaker(p: Prepared, signal: AbortSignal): Promise<RawResponse | Failure> {
    const breaker = this.#o.breaker;
    try {
      return await (breaker ? breaker.run(() => this.#call(p, signal), signal) : this.#call(p, signal));
    } catch (e) {
      if (!(e instanceof TransientError)) throw e;
      // The breaker is open: nothing was sent, and the delivery pass pauses rather than wait it out here.
      if (isCircuitOpen(e)) return { error: e, retry: "never" };
      const network = (e.details as { network?: string }).network;
      if (network && NOT_SENT.has(network)) return { error: e, retry: "always" };
      // A 500 may be this request's own doing: sending it again as it is would not help.
      if (e.code === "DEST_SERVER_ERROR") return { error: e, retry: "never" };
      // 502 and 503 come from a gateway or an overloaded API that did not take the request in.
      const status = (e.details as { status?: number }).status;
      return { error: e, retry: status === 502 || status === 503 ? "always" : "if-idempotent" };
    }
  }

  /**
   * 5xx and 408 fail the attempt inside the breaker, which counts those that say the API is down (a 500,
   * undecided, it does not count).
   */
  async #call(p: Prepared, signal: AbortSignal): Promise<RawResponse> {
    const raw = await this.#send(p, signal);
    if (raw.status >= 500 || raw.status === 408) {
      const body = trimBody(raw.text);
      const code = raw.status === 408 ? "DEST_TIMEOUT" : DOWN_STATUSES.has(raw.status) ? "DEST_UNAVAILABLE" : "DEST_SERVER_ERROR";
      throw new TransientError(code, `${this.#o.service} answered ${raw.status} to ${p.shown}${this.#message(raw.text)}`, {
        details: { ...p.details, status: raw.status, body },
        retryAfterMs: retryAfterMs(raw.headers["retry-after"]),
      });
    }
    return raw;
  }

  /** The exchange, within the timeout; a network failure or timeout as a TransientError. */
  async #send(p: Prepared, signal: AbortSignal): Promise<RawResponse> {
    const o = this.#o;
    const timer = m.requests.startTimer({ destination: o.destination ?? o.service });
    try {
      const within = AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs)]);
      const raw = await exchange(p.url, this.#agent(p.url), p.method, p.headers, p.payload, within);
      timer({ status_class: statusClass(raw.status) });
      return raw;
    } catch (e) {
      timer({ status_class: statusClass(null) });
      signal.throwIfAborted();
      const err = e as NodeJS.ErrnoException;
      const timedOut = err.name === "TimeoutError" || err.name === "AbortError";
      throw new TransientError(
        timedOut ? "DEST_TIMEOUT" : "DEST_UNREACHABLE",
        timedOut ? `${o.service} did not answer ${p.shown} within ${o.timeoutMs} ms` : `${p.shown} failed: ${scrubSecrets(err.message)}`,
        { details: { ...p.details, network: err.code ?? err.name } },
      );
    }
  }

  /** An answer the API gave: the response, or the refusal it says (rate limited, credentials, the request). */
  #answer<T>(req: HttpRequest, p: Prepared, raw: RawResponse): Outcome<T> {
    const { status } = raw;
    if ((status >= 200 && status < 300) || req.accept?.includes(status)) {
      return { response: { status, body: parseBody(raw.text) as T, headers: raw.headers, text: raw.text, request: p.details } };
    }
    const o = this.#o;
    const details = { ...p.details, status, body: trimBody(raw.text) };
    const said = this.#message(raw.text);
    if (status === 429 || o.rateLimited?.(status, parseBody(raw.text))) {
      return {
        error: new TransientError("DEST_RATE_LIMITED", `${o.service} answered ${status} (rate limited) to ${p.shown}${said}`, {
          details,
          retryAfterMs: retryAfterMs(raw.headers["retry-after"]),
        }),
        retry: "always",
      };
    }
    if (status === 401 || status === 403) {
      const message = `${o.service} refused the credentials (${status}${said}); check ${this.#credentialsAt} and the scopes granted`;
      return { error: new PermanentError("DEST_UNAUTHORIZED", message, { details }), retry: "after-renewal" };
    }
    return { error: new PermanentError("DEST_REJECTED", `${o.service} answered ${status} to ${p.shown}${said}`, { details }), retry: "never" };
  }

  #message(text: string): string {
    const parsed = parseBody(text);
    const fromApi = parsed === undefined ? undefined : this.#o.messageOf?.(parsed);
    const message = fromApi ?? (typeof parsed === "string" ? parsed : undefined);
    return message ? `: ${trimBody(message, 300)}` : "";
  }
}
