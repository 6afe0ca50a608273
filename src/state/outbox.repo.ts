/**
 * The outbox: one row per change to send to one destination, written in the transaction of the change.
 * A newer change to the same (destination, entity, key) supersedes a pending or dead one and carries its
 * changed properties forward, so only the newest version is sent and nothing changed is forgotten.
 */
import { hash } from "node:crypto";
import type { OutboxIntent, Values } from "../engine/types.ts";
import { supersedeDeadLetters } from "./dead-letters.repo.ts";
import { type Db, insertChunked, selectByKeys } from "./store.ts";

export type OutboxStatus = "pending" | "delivered" | "dead" | "superseded";

export interface OutboxRow {
  id: number;
  destination: string;
  entity: string;
  key: string;
  version: number;
  op: "upsert" | "delete";
  properties: Values;
  changed: string[];
  idempotency_key: string;
  status: OutboxStatus;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  run_id: number | null;
  created_at: string;
}

export function idempotencyKey(destination: string, entity: string, key: string, version: number): string {
  return hash("sha256", JSON.stringify([destination, entity, key, version]), "hex").slice(0, 40);
}

export interface OutboxWrite extends OutboxIntent {
  entity: string;
  key: string;
  version: number;
}

/** Writes intents, superseding pending rows of the same keys. Returns the number of rows written. */
export async function enqueue(db: Db, runId: number | null, at: string, intents: readonly OutboxWrite[]) {
  if (intents.length === 0) return 0;
  const byDestination = new Map<string, OutboxWrite[]>();
  for (const i of intents) {
    const list = byDestination.get(`${i.destination}\u0000${i.entity}`) ?? [];
    list.push(i);
    byDestination.set(`${i.destination}\u0000${i.entity}`, list);
  }
  for (const list of byDestination.values()) {
    const { destination, entity } = list[0]!;
    const columns = ["id", "key", "changed"];
    const keys = list.map((i) => i.key);
    const pending = await selectByKeys<{ id: number; key: string; changed: string }>(
      db,
      "outbox",
      columns,
      { destination, entity, status: "pending" },
      "key",
      keys,
    );
    // Dead rows are superseded too: the new version carries their changes, so the dead-letter queue only
    // ever holds a record's newest version. Most destinations have none, and the check costs one probe of
    // the (destination, status, id) index; naming the entity too lets SQLite pick the per-key index and
    // walk every key of the entity instead.
    const anyDead = await db("outbox").where({ destination, status: "dead" }).first("id");
    const dead = anyDead
      ? await selectByKeys<{ id: number; key: string; changed: string }>(
          db,
          "outbox",
          columns,
          { destination, entity, status: "dead" },
          "key",
          keys,
        )
      : [];
    pending.push(...dead);
    const carried = new Map<string, { ids: number[]; changed: Set<string> }>();
    for (const p of pending) {
      const c = carried.get(p.key) ?? { ids: [], changed: new Set<string>() };
      c.ids.push(Number(p.id));
      for (const f of JSON.parse(p.changed) as string[]) c.changed.add(f);
      carried.set(p.key, c);
    }
    await insertChunked(
      db,
      "outbox",
      list.map((i) => {
        const prior = carried.get(i.key);
        const changed = prior ? [...new Set([...prior.changed, ...i.changed])] : i.changed;
        return {
          destination,
          entity,
          key: i.key,
          version: i.version,
          op: i.op,
          properties: JSON.stringify(i.properties),
          changed: JSON.stringify(changed),
          idempotency_key: idempotencyKey(destination, entity, i.key, i.version),
          status: "pending",
          attempts: 0,
          next_attempt_at: at,
          run_id: runId,
          created_at: at,
          updated_at: at,
        };
      }),
    );
    const supersededIds = [...carried.values()].flatMap((c) => c.ids);
    if (supersededIds.length > 0) {
      await db("outbox").whereIn("id", supersededIds).update({ status: "superseded", updated_at: at });
    }
    await supersedeDeadLetters(db, dead.map((d) => Number(d.id)), at);
  }
  return intents.length;
}

interface RawOutbox extends Omit<OutboxRow, "properties" | "changed"> {
  properties: string;
  changed: string;
}

const fromRaw = (r: RawOutbox): OutboxRow => ({
  ...r,
  id: Number(r.id),
  version: Number(r.version),
  attempts: Number(r.attempts),
  properties: JSON.parse(r.properties),
  changed: JSON.parse(r.changed),
});

/** A pending row as delivery needs it: `properties` parsed, and also kept as the JSON text it was stored as. */
export interface DueRow
  extends Pick<OutboxRow, "id" | "entity" | "key" | "version" | "op" | "properties" | "changed" | "attempts"> {
  idempotency_key: string;
  propertiesJson: string;
}

/**
 * Pending rows of a destination due by `now`, oldest first, from the id after `afterId`: delivery walks
 * through them page by page, while the rows of the page before are still pending (in flight).
 */
export async function duePending(
  db: Db,
  destination: string,
  now: string,
  limit: number,
  afterId = 0,
): Promise<DueRow[]> {
  const rows = (await db("outbox")
    .select("id", "entity", "key", "version", "op", "properties", "changed", "idempotency_key", "attempts")
    .where({ destination, status: "pending" })
    .where("next_attempt_at", "<=", now)
    .where("id", ">", afterId)
    .orderBy("id")
    .limit(limit)) as (Omit<DueRow, "properties" | "changed" | "propertiesJson"> & {
    properties: string;
    changed: string;
  })[];
  return rows.map((r) => ({
    ...r,
    id: Number(r.id),
    version: Number(r.version),
    attempts: Number(r.attempts),
    properties: JSON.parse(r.properties) as Values,
    changed: JSON.parse(r.changed) as string[],
    propertiesJson: r.properties,
  }));
}

/** The earliest retry time among a destination's pending rows, or null when none is pending. */
export async function nextDue(db: Db, destination: string): Promise<string | null> {
  const row = (await db("outbox")
    .where({ destination, status: "pending" })
    .min({ at: "next_attempt_at" })
    .first()) as { at: string | null } | undefined;
  return row?.at ?? null;
}

export async function markDelivered(db: Db, ids: readonly number[], at: string) {
  if (ids.length > 0) await db("outbox").whereIn("id", ids).update({ status: "delivered", updated_at: at });
}

export async function markFailed(
  db: Db,
  id: number,
  update: { status: "pending" | "dead"; attempts: number; nextAttemptAt: string; error: string; at: string },
) {
  await db("outbox").where({ id }).update({
    status: update.status,
    attempts: update.attempts,
    next_attempt_at: update.nextAttemptAt,
    last_error: update.error,
    updated_at: update.at,
  });
}

/**
 * Rows the destination could not take (it was down): still pending and still due, no attempt counted, the
 * error kept for `ferry explain`. When the destination is tried again is the delivery loop's business (a
 * destination's availability, delivery/availability.ts), not the row's: the next command tries at once.
 */
export async function holdPending(db: Db, ids: readonly number[], error: string, at: string) {
  if (ids.length === 0) return;
  for (let i = 0; i < ids.length; i += 500) {
    await db("outbox")
      .whereIn("id", ids.slice(i, i + 500))
      .update({ last_error: error, updated_at: at });
  }
}

export async function outboxCounts(db: Db): Promise<{ destination: string; status: string; n: number }[]> {
  const rows = (await db("outbox")
    .select("destination", "status")
    .count({ n: "*" })
    .groupBy("destination", "status")) as {
    destination: string;
    status: string;
    n: number | string;
  }[];
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

export async function outboxForKey(db: Db, entity: string, key: string): Promise<OutboxRow[]> {
  return ((await db("outbox").where({ entity, key }).orderBy("id")) as RawOutbox[]).map(fromRaw);
}

/** A destination's pending rows due at `before` or earlier: how many (counted up to `OVERDUE_COUNT_CAP`), and the first of them. */
export interface Overdue {
  count: number;
  oldest: Pick<OutboxRow, "id" | "entity" | "key" | "next_attempt_at" | "last_error" | "run_id"> | null;
}

/** Past this many overdue rows, the count says "at least": counting a destination's whole backlog every check is not worth it. */
export const OVERDUE_COUNT_CAP = 10_000;

export async function overdueRows(db: Db, destination: string, before: string): Promise<Overdue> {
  const due = () => db("outbox").where({ destination, status: "pending" }).where("next_attempt_at", "<=", before);
  const capped = due().select(db.raw("1")).limit(OVERDUE_COUNT_CAP).as("due");
  const counted = (await db.count({ n: "*" }).from(capped).first()) as { n: number | string } | undefined;
  const count = Number(counted?.n ?? 0);
  if (count === 0) return { count, oldest: null };
  const row = (await due().orderBy("id").first("id", "entity", "key", "next_attempt_at", "last_error", "run_id")) as Overdue["oldest"] & object;
  return { count, oldest: { ...row, id: Number(row.id), run_id: row.run_id === null ? null : Number(row.run_id) } };
}
