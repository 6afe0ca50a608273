/**
 * The contract every destination implements. The delivery layer hands a destination a batch of outbox
 * items no larger than it declared and gets one result per item back: one bad record never fails the rest.
 */
import type { z } from "zod";
import type { Values } from "../engine/types.ts";
import type { FerryError } from "../errors.ts";
import type { Logger } from "../log.ts";

export interface DeliveryItem {
  outboxId: number;
  entity: string;
  key: string;
  op: "upsert" | "delete";
  /** The destination's object for this entity (e.g. `contacts`). */
  object: string;
  /** The unique property that holds the key in the destination, and its value. */
  match: { property: string; value: string };
  /** Full projection of the newest version. */
  properties: Values;
  /** Properties changed since the last delivered version: what an update sends. */
  changed: string[];
  /** The destination's id for the record when Ferry has pushed it before. */
  remoteId: string | null;
  idempotencyKey: string;
}

export type ItemResult =
  | {
    outboxId: number;
    ok: true;
    remoteId: string | null;
    action: "created" | "updated" | "deleted" | "absent";
  }
  | {
    outboxId: number;
    ok: false;
    error: FerryError;
    /** The record's part of the request that failed, as sent, for the dead-letter queue. */
    request?: unknown;
  };

export interface Destination {
  readonly name: string;
  /** Most items per write() call: the API's batch size. */
  readonly maxBatchSize: number;
  /** write() calls the delivery layer may have in flight at once. */
  readonly concurrency: number;
  /**
   * Applies the items and returns exactly one result per item, in any order; a record the API refuses
   * comes back as a PermanentError result. When the destination as a whole is unavailable after its own
   * retries (TransientError: unreachable, timing out, 5xx, rate limited, circuit open) or refuses the
   * credentials, it may throw or return that error for the items it could not send: they are not to blame,
   * and stay pending without an attempt counted.
   */
  write(items: readonly DeliveryItem[], signal: AbortSignal): Promise<ItemResult[]>;
  close(): Promise<void>;
}

export interface DestinationContext {
  log: Logger;
  env: NodeJS.ProcessEnv;
  baseDir: string;
}

export interface DestinationDefinition<C = unknown> {
  type: string;
  configSchema: z.ZodType<C>;
  create(name: string, config: C, context: DestinationContext): Destination;
}
