/**
 * The contract every destination implements. The delivery layer hands a destination a batch of outbox
 * items no larger than it declared and gets one result per item back: one bad record never fails the rest.
 */
import type { ConnectorSpec } from "../config/connector.ts";
import type { Secret } from "../config/secrets.ts";
import type { Values } from "../engine/types.ts";
import { blameOf, describeError, FerryError, PermanentError, TransientError } from "../errors.ts";
import type { RunContext } from "../run-context.ts";

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
    /** `kept`: nothing was sent, every changed field having been changed in the destination by a person. */
    action: "created" | "updated" | "deleted" | "absent" | "kept";
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
  /**
   * Whether an item whose batch failed undecided (a 500, an answer that does not say what became of a
   * record) can be written again in a smaller batch: whatever the failed batch applied is then found again,
   * not applied twice (a lookup before a create, an upsert by key, an update or a delete by id). Delivery
   * then splits the batch in halves to find the record behind the failure, and the others go through.
   * Without it, or for an item it refuses, the batch is held as if the destination were down.
   */
  splittable?(item: DeliveryItem): boolean;
  /**
   * Reads the destination's current values of the items' `changed` properties, for records Ferry has
   * pushed before (`remoteId` set): what `remote_edits` compares with what Ferry last pushed. Returns values
   * by outbox id; a record the destination no longer has is left out. Throws what blames the destination.
   * Only destinations that can read records back implement it.
   */
  readRemote?(items: readonly DeliveryItem[], signal: AbortSignal): Promise<Map<number, Values>>;
  /**
   * This process has just taken delivery to the destination (its delivery lease), maybe from another
   * worker: a rate-limited destination starts its pacing empty, so the requests the last holder sent within
   * the API's window are never topped up at once.
   */
  claimed?(): void;
  close(): Promise<void>;
}

/** What a destination is given when it is created: the run context, its block being `destinations.<name>`. */
export type DestinationContext = RunContext;

/**
 * The context's secret resolver as connectors' credential builders take it, remembering what it resolved:
 * `named()` is where the credentials are configured (`destinations.crm.token (${env:CRM_TOKEN})`), for
 * the message of a refusal. The references are named, never their values.
 */
export function secretsOf(context: DestinationContext): { resolve: (reference: string, field: string) => Secret; named: () => string } {
  const fields: string[] = [];
  return {
    resolve: (reference, field) => {
      fields.push(`${context.block}.${field} (${reference})`);
      return context.secret(field, reference);
    },
    named: () => fields.join(", "),
  };
}

/**
 * A destination connector, said once: its block of ferry.yaml's `destinations:` (schema, checks: see
 * `ConnectorSpec`) and its constructor. Registered in `registry.ts`.
 */
export interface DestinationDefinition<C = unknown> extends ConnectorSpec<C> {
  create(name: string, config: C, context: DestinationContext): Destination;
}

/**
 * Whether an error says the destination is unavailable (or refuses the credentials), not that a record is
 * wrong: its code blames the destination, or it is no FerryError at all.
 */
export function blamesDestination(error: unknown): boolean {
  return !(error instanceof FerryError) || blameOf(error) === "destination";
}

/** Whether an error may be the destination's or a record's (a 500...): delivery finds out by splitting the batch. */
export function isUndecided(error: unknown): error is FerryError {
  return error instanceof FerryError && blameOf(error) === "undecided";
}

/** Records one item's result; the first result given for an item is the one that counts. */
export type Answer = (result: ItemResult) => void;

/**
 * Writes items a group at a time (one object, one operation: whatever one API call can take) and returns
 * exactly one result per item. When a group's call fails as a whole (the API down or refusing the
 * credentials after the client's retries, refusing the request whole, or failing on it undecided), each
 * item of the group not answered yet gets that error: the delivery layer dead-letters them when it blames
 * the request, and splits their batch when it is undecided. When it blames the destination (down, refusing
 * the credentials), the remaining groups are not tried either: every item not answered gets the error, and
 * the delivery layer holds them.
 */
export async function writeInGroups(
  destination: string,
  items: readonly DeliveryItem[],
  groupOf: (item: DeliveryItem) => string,
  writeGroup: (group: DeliveryItem[], answer: Answer) => Promise<void>,
): Promise<ItemResult[]> {
  const answered = new Map<number, ItemResult>();
  const answer: Answer = (r) => {
    if (!answered.has(r.outboxId)) answered.set(r.outboxId, r);
  };
  for (const group of Map.groupBy(items, groupOf).values()) {
    try {
      await writeGroup(group, answer);
    } catch (e) {
      const error =
        e instanceof FerryError
          ? e
          : new TransientError("DEST_UNAVAILABLE", `delivery to ${destination} failed: ${describeError(e)}`, { cause: e });
      for (const i of blamesDestination(error) ? items : group) answer({ outboxId: i.outboxId, ok: false, error });
      if (blamesDestination(error)) break;
    }
  }
  return items.map(
    (i) =>
      answered.get(i.outboxId) ?? {
        outboxId: i.outboxId,
        ok: false,
        error: new PermanentError("DEST_NO_RESULT", `${destination}: no result for ${i.match.property}=${i.match.value}`),
      },
  );
}
