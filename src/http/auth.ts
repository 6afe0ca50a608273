/**
 * How API destinations authenticate: a static bearer token, an API key header, basic auth, or an OAuth2
 * access token fetched from a token endpoint (client credentials, refresh token, or a signed assertion) and
 * renewed when it expires or the API answers 401. Tokens fetched here are Secrets too: scrubbed from every
 * log line and stored error.
 */
import http from "node:http";
import https from "node:https";
import { Secret, scrubSecrets } from "../config/secrets.ts";
import { PermanentError, TransientError } from "../errors.ts";
import { exchange, trimBody } from "./exchange.ts";

export interface Credentials {
  headers: Record<string, string>;
  /** The API root this credential belongs to, when the token endpoint names one (Salesforce's instance). */
  baseUrl?: string;
}

export interface Auth {
  /** Identifies the credential for its rate-limit bucket (hashed there, never logged). */
  readonly id: string;
  credentials(signal: AbortSignal): Promise<Credentials>;
  /** After a 401: forgets a cached token; true when fetching a new one may help. */
  renew?(): boolean;
}

export function bearerAuth(token: Secret): Auth {
  return { id: token.reveal(), credentials: async () => ({ headers: { authorization: `Bearer ${token.reveal()}` } }) };
}

export function headerAuth(header: string, value: Secret): Auth {
  return { id: value.reveal(), credentials: async () => ({ headers: { [header.toLowerCase()]: value.reveal() } }) };
}

export function basicAuth(username: string, password: Secret): Auth {
  const encoded = new Secret(Buffer.from(`${username}:${password.reveal()}`).toString("base64"));
  return { id: encoded.reveal(), credentials: async () => ({ headers: { authorization: `Basic ${encoded.reveal()}` } }) };
}

export interface TokenGrant {
  /** The service's name in messages. */
  service: string;
  tokenUrl: string;
  /** The form the token endpoint takes; built per request (a signed assertion expires). */
  form(): Record<string, string>;
  /** Identifies the credential (client id and user): one bucket per credential. */
  id: string;
  timeoutMs: number;
  /** Lifetime assumed when the endpoint does not say (Salesforce does not). */
  defaultTtlMs?: number;
  /** A refresh token the endpoint rotated: the caller may want to keep it. */
  onRefreshToken?(token: Secret): void;
}

interface Token {
  access: Secret;
  baseUrl: string | undefined;
  expiresAt: number;
}

/** An OAuth2 access token from a token endpoint, cached until a minute before it expires. */
export class OAuth2Auth implements Auth {
  readonly id: string;
  readonly #grant: TokenGrant;
  readonly #agent: http.Agent;
  #token: Token | null = null;
  #pending: Promise<Token> | null = null;

  constructor(grant: TokenGrant) {
    this.#grant = grant;
    this.id = grant.id;
    this.#agent = grant.tokenUrl.startsWith("https:") ? new https.Agent({ keepAlive: false }) : new http.Agent();
  }

  async credentials(signal: AbortSignal): Promise<Credentials> {
    if (!this.#token || Date.now() >= this.#token.expiresAt) {
      this.#pending ??= this.#fetch(signal).finally(() => (this.#pending = null));
      this.#token = await this.#pending;
    }
    const { access, baseUrl } = this.#token;
    return { headers: { authorization: `Bearer ${access.reveal()}` }, ...(baseUrl ? { baseUrl } : {}) };
  }

  renew(): boolean {
    this.#token = null;
    return true;
  }

  async #fetch(signal: AbortSignal): Promise<Token> {
    const g = this.#grant;
    const url = new URL(g.tokenUrl);
    const body = new URLSearchParams(g.form()).toString();
    const where = `${url.origin}${url.pathname}`;
    let raw;
    try {
      raw = await exchange(
        url,
        this.#agent,
        "POST",
        {
          "content-type": "application/x-www-form-urlencoded",
          accept: "application/json",
          "content-length": String(Buffer.byteLength(body)),
        },
        body,
        AbortSignal.any([signal, AbortSignal.timeout(g.timeoutMs)]),
      );
    } catch (e) {
      signal.throwIfAborted();
      throw new TransientError("DEST_UNREACHABLE", `${g.service}'s token endpoint ${where} failed: ${scrubSecrets((e as Error).message)}`, {
        details: { method: "POST", url: where },
      });
    }
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(raw.text) as Record<string, unknown>;
    } catch {
      /* reported below */
    }
    const details = { method: "POST", url: where, status: raw.status, body: trimBody(raw.text) };
    if (raw.status >= 500 || raw.status === 429) {
      throw new TransientError("DEST_UNAVAILABLE", `${g.service}'s token endpoint answered ${raw.status}`, { details });
    }
    if (raw.status < 200 || raw.status >= 300 || typeof parsed.access_token !== "string") {
      const why = [parsed.error, parsed.error_description, parsed.status, parsed.message].filter((v) => typeof v === "string");
      throw new PermanentError(
        "DEST_UNAUTHORIZED",
        `${g.service}'s token endpoint refused the credentials (${raw.status}${why.length ? `: ${scrubSecrets(why.join(": "))}` : ""})`,
        { details },
      );
    }
    if (typeof parsed.refresh_token === "string") g.onRefreshToken?.(new Secret(parsed.refresh_token));
    const ttlMs = typeof parsed.expires_in === "number" ? parsed.expires_in * 1000 : (g.defaultTtlMs ?? 30 * 60_000);
    return {
      access: new Secret(parsed.access_token),
      baseUrl: typeof parsed.instance_url === "string" ? parsed.instance_url : undefined,
      expiresAt: Date.now() + Math.max(ttlMs - 60_000, ttlMs / 2),
    };
  }
}
