/**
 * The delivery settings every API destination shares: its HTTP settings (rate limit, timeout, concurrency,
 * circuit breaker), how many times a record is sent before it is dead-lettered, and what an update does to
 * a field a person changed in the destination. Each connector spreads these into its schema with defaults
 * from the API's documented limits; the delivery layer reads `max_attempts` and `remote_edits`.
 */
import { z } from "zod";
import { httpSettings, type HttpSettings, type Limit } from "../http/http.config.ts";

/** What an update does to a field changed in the destination since Ferry last pushed it (DESIGN.md, three-way). */
export const REMOTE_EDITS = ["overwrite", "conflict", "destination_wins"] as const;
export type RemoteEdits = (typeof REMOTE_EDITS)[number];

export function deliverySettings(defaults: { rateLimit: Limit | null; concurrency: number }) {
  const http = httpSettings(defaults);
  return {
    rate_limit: http.rate_limit,
    max_attempts: z
      .number()
      .int()
      .min(1)
      .max(20)
      .default(5)
      .describe("Deliveries of one record before it goes to the dead-letter queue (`ferry dlq`)."),
    timeout: http.timeout,
    concurrency: http.concurrency,
    circuit_breaker: http.circuit_breaker,
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

export interface DeliverySettings extends HttpSettings {
  max_attempts: number;
  remote_edits: RemoteEdits;
}
