/**
 * The HTTP settings every API destination shares: its rate limit, timeout, circuit breaker and
 * concurrency, and the client built from them. Each connector spreads these into its schema (through
 * destinations/shared.config.ts) with defaults from the API's documented limits.
 */
import { z } from "zod";
import { durationMs, durationSchema } from "../config/duration.ts";
import type { Logger } from "../log.ts";
import type { Auth } from "./auth.ts";
import { Breaker, type BreakerOptions } from "./breaker.ts";
import { HttpClient, type HttpClientOptions } from "./http-client.ts";
import { bucketFor, type RateLimit } from "./rate-limit.ts";

export type Limit = { requests: number; per_seconds: number; burst?: number };

/** The schema of each HTTP setting, by its key in a destination's configuration. */
export function httpSettings(defaults: { rateLimit: Limit | null; concurrency: number }) {
  return {
    rate_limit: z
      .strictObject({
        requests: z.number().int().min(1),
        per_seconds: z.number().min(0.1),
        burst: z.number().int().min(1).optional().describe("Requests that may start at once; default 1, evenly paced."),
      })
      .nullable()
      .default(defaults.rateLimit)
      .describe("Requests allowed per window for this credential, shared by every destination using it. null: no limit."),
    timeout: durationSchema("A request not answered within this long fails (and is retried).", "30s"),
    concurrency: z.number().int().min(1).max(16).default(defaults.concurrency).describe("Batch requests in flight at once."),
    circuit_breaker: z
      .strictObject({
        failures: z.number().int().min(1).default(5).describe("Failed requests in a row (unreachable, timeout, 5xx) that open it."),
        open_for: durationSchema("How long it stays open before one trial request.", "30s"),
      })
      .default({ failures: 5, open_for: "30s" })
      .describe("Pauses delivery to an API that keeps failing, and resumes by itself when it answers again."),
  };
}

export interface HttpSettings {
  rate_limit: Limit | null;
  timeout: string;
  concurrency: number;
  circuit_breaker: { failures: number; open_for: string };
}

export function rateLimitOf(s: HttpSettings): RateLimit | null {
  if (!s.rate_limit) return null;
  const { requests, per_seconds, burst } = s.rate_limit;
  return { requests, perMs: per_seconds * 1000, ...(burst ? { burst } : {}) };
}

export const timeoutOf = (s: HttpSettings): number => durationMs(s.timeout);

export const breakerOf = (s: HttpSettings): BreakerOptions => ({
  failures: s.circuit_breaker.failures,
  openForMs: durationMs(s.circuit_breaker.open_for),
});

/**
 * The HTTP client of one API destination, from its shared settings: the credential's rate-limit bucket,
 * the destination's own circuit breaker, its timeout. `api` names the service for the bucket (one bucket
 * per API and credential).
 */
export function destinationClient(options: {
  name: string;
  api: string;
  settings: HttpSettings;
  auth: Auth;
  log: Logger;
  client: Omit<HttpClientOptions, "auth" | "bucket" | "breaker" | "timeoutMs">;
}): HttpClient {
  const { name, api, settings, auth, log, client } = options;
  return new HttpClient({
    ...client,
    destination: name,
    auth,
    bucket: bucketFor(api, auth.id, rateLimitOf(settings)),
    breaker: new Breaker(name, breakerOf(settings), log),
    timeoutMs: timeoutOf(settings),
  });
}
