/**
 * The settings every API destination shares: its rate limit, timeouts, retries, circuit breaker and
 * concurrency. Each connector spreads these into its schema with defaults from the API's documented limits.
 */
import { z } from "zod";
import { durationMs, durationSchema } from "../config/duration.ts";
import type { BreakerOptions } from "./breaker.ts";
import type { RateLimit } from "./rate-limit.ts";

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
  };
}

export interface DeliverySettings {
  rate_limit: Limit | null;
  max_attempts: number;
  timeout: string;
  concurrency: number;
  circuit_breaker: { failures: number; open_for: string };
}

export const rateLimitOf = (s: DeliverySettings): RateLimit | null =>
  s.rate_limit
    ? { requests: s.rate_limit.requests, perMs: s.rate_limit.per_seconds * 1000, ...(s.rate_limit.burst ? { burst: s.rate_limit.burst } : {}) }
    : null;

export const timeoutOf = (s: DeliverySettings): number => durationMs(s.timeout);

export const breakerOf = (s: DeliverySettings): BreakerOptions => ({
  failures: s.circuit_breaker.failures,
  openForMs: durationMs(s.circuit_breaker.open_for),
});
