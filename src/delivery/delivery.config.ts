/**
 * The settings every API destination shares: its rate limit, timeouts, retries, circuit breaker and
 * concurrency. Each connector spreads these into its schema with defaults from the API's documented limits.
 */
import { z } from "zod";
import { durationMs, durationSchema } from "../config/duration.ts";
import type { Logger } from "../log.ts";
import type { Auth } from "./auth.ts";
import { Breaker, type BreakerOptions } from "./breaker.ts";
import { HttpClient, type HttpClientOptions } from "./http-client.ts";
import { bucketFor, type RateLimit } from "./rate-limit.ts";

/** What an update does to a field changed in the destination since Ferry last pushed it (DESIGN.md, three-way). */
export const REMOTE_EDITS = ["overwrite", "conflict", "destination_wins"] as const;
export type RemoteEdits = (typeof REMOTE_EDITS)[number];

type Limit = { requests: number; per_seconds: number; burst?: number };

export function deliverySettings(defaults: { rateLimit: Limit | null; concurrency: number }) {
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
    max_attempts: z
      .number()
      .int()
      .min(1)
      .max(20)
      .default(5)
      .describe("Deliveries of one record before it goes to the dead-letter queue (`ferry dlq`)."),
    timeout: durationSchema("A request not answered within this long fails (and is retried).", "30s"),
    concurrency: z.number().int().min(1).max(16).default(defaults.concurrency).describe("Batch requests in flight at once."),
    circuit_breaker: z
      .strictObject({
        failures: z.number().int().min(1).default(5).describe("Failed requests in a row (unreachable, timeout, 5xx) that open it."),
        open_for: durationSchema("How long it stays open before one trial request.", "30s"),
      })
      .default({ failures: 5, open_for: "30s" })
      .describe("Pauses delivery to an API that keeps failing, and resumes by itself when it answers again."),
    remote_edits: z
      .enum(REMOTE_EDITS)
      .default("overwrite")
      .describe(
        "What an update does to a field a person changed in the destination since Ferry last pushed it. overwrite: " +
          "sends Ferry's value. conflict: reads the record first, leaves that field alone and opens a conflict for an " +
          "operator (`ferry conflicts`). destination_wins: reads the record first and leaves the person's value.",
      ),
  };
}

export interface DeliverySettings {
  rate_limit: Limit | null;
  max_attempts: number;
  timeout: string;
  concurrency: number;
  circuit_breaker: { failures: number; open_for: string };
  remote_edits: RemoteEdits;
}

export function rateLimitOf(s: DeliverySettings): RateLimit | null {
  if (!s.rate_limit) return null;
  const { requests, per_seconds, burst } = s.rate_limit;
  return { requests, perMs: per_seconds * 1000, ...(burst ? { burst } : {}) };
}

export const timeoutOf = (s: DeliverySettings): number => durationMs(s.timeout);

export const breakerOf = (s: DeliverySettings): BreakerOptions => ({
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
  settings: DeliverySettings;
  auth: Auth;
  log: Logger;
  client: Omit<HttpClientOptions, "auth" | "bucket" | "breaker" | "timeoutMs">;
}): HttpClient {
  const { name, api, settings, auth, log, client } = options;
  return new HttpClient({
    ...client,
    auth,
    bucket: bucketFor(api, auth.id, rateLimitOf(settings)),
    breaker: new Breaker(name, breakerOf(settings), log),
    timeoutMs: timeoutOf(settings),
  });
}
