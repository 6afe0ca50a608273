/**
 * What Ferry last pushed to each destination, per (destination, entity, key): the remote id, the properties
 * sent and their version. Delivery updates by id from it, `ferry explain` shows it, and edits made in a
 * destination are found against it.
 */
import type { Values } from "../engine/types.ts";
import { type Db, selectByKeys, upsertChunked } from "./store.ts";

export async function loadRemoteIds(db: Db, destination: string, entity: string, keys: readonly string[]) {
  const rows = await selectByKeys<{ key: string; remote_id: string | null }>(
    db,
    "destination_records",
    ["key", "remote_id"],
    { destination, entity },
    "key",
    keys,
  );
  return new Map(rows.map((r) => [r.key, r.remote_id]));
}

export interface PushedRecord {
  destination: string;
  entity: string;
  key: string;
  remoteId: string | null;
  /** The properties pushed, as JSON text (as the outbox row holds them: no need to encode them again). */
  pushedJson: string;
  version: number;
  outboxId: number;
}

/** What was last pushed where: for `ferry explain`, and for updates by id instead of by lookup. */
export async function recordPushed(db: Db, at: string, records: readonly PushedRecord[]) {
  if (records.length === 0) return;
  // One row per key: PostgreSQL refuses an upsert that touches the same row twice in one statement.
  const latest = new Map<string, PushedRecord>();
  for (const r of records) {
    const id = `${r.destination}\u0000${r.entity}\u0000${r.key}`;
    const prior = latest.get(id);
    if (!prior || prior.version <= r.version) latest.set(id, r);
  }
  const rows = [...latest.values()].map((r) => ({
    destination: r.destination,
    entity: r.entity,
    key: r.key,
    remote_id: r.remoteId,
    pushed: r.pushedJson,
    version: r.version,
    outbox_id: r.outboxId,
    pushed_at: at,
  }));
  await upsertChunked(db, "destination_records", rows, ["destination", "entity", "key"]);
}

export async function pushedForKey(db: Db, entity: string, key: string) {
  return db("destination_records").where({ entity, key });
}

/** What Ferry last pushed to a destination (or learned it holds), by key: the baseline that edits made there are found against. */
export async function loadPushed(db: Db, destination: string, entity: string, keys: readonly string[]) {
  const rows = await selectByKeys<{ key: string; pushed: string }>(
    db,
    "destination_records",
    ["key", "pushed"],
    { destination, entity },
    "key",
    keys,
  );
  return new Map(rows.map((r) => [r.key, JSON.parse(r.pushed) as Values]));
}

/**
 * Remembers values Ferry read from a destination and left there (a person's edits): the baseline from now
 * on, so the same edit is acted on once.
 */
export async function rememberRemoteValues(db: Db, destination: string, entity: string, key: string, values: Values, at: string) {
  const row = (await db("destination_records").where({ destination, entity, key }).first("pushed")) as { pushed: string } | undefined;
  if (!row) return;
  const pushed = { ...(JSON.parse(row.pushed) as Values), ...values };
  await db("destination_records").where({ destination, entity, key }).update({ pushed: JSON.stringify(pushed), pushed_at: at });
}
