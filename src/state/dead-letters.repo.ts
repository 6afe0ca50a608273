/**
 * The dead-letter queue: outbox rows that failed permanently or ran out of attempts, each with the request
 * sent (its record's part), the answer (status and trimmed body, secrets scrubbed) and the reason. An entry
 * stays open until an operator replays it (its outbox row goes back to pending) or discards it. A newer
 * change to the same record supersedes a dead row and carries its changed fields forward, so an open entry
 * always holds the newest version of its record.
 */
import { scrubSecrets } from "../config/secrets.ts";
import { type Db, insertChunked } from "./store.ts";

export interface DeadLetterWrite {
  outboxId: number;
  destination: string;
  entity: string;
  key: string;
  version: number;
  code: string;
  reason: string;
  request: unknown;
  response: unknown;
  attempts: number;
}

export interface DeadLetter {
  id: number;
  outbox_id: number;
  destination: string;
  entity: string;
  key: string;
  version: number;
  code: string;
  reason: string;
  request: unknown;
  response: unknown;
  attempts: number;
  dead_at: string;
  resolution: "replayed" | "discarded" | "superseded" | null;
  resolved_at: string | null;
  resolved_by: string | null;
}

const text = (v: unknown) => (v === undefined ? null : scrubSecrets(JSON.stringify(v)));

export async function addDeadLetters(db: Db, at: string, entries: readonly DeadLetterWrite[]) {
  if (entries.length === 0) return;
  await insertChunked(
    db,
    "dead_letters",
    entries.map((e) => ({
      outbox_id: e.outboxId,
      destination: e.destination,
      entity: e.entity,
      key: e.key,
      version: e.version,
      code: e.code,
      reason: scrubSecrets(e.reason),
      request: text(e.request),
      response: text(e.response),
      attempts: e.attempts,
      dead_at: at,
    })),
  );
}

type Raw = Omit<DeadLetter, "request" | "response"> & { request: string | null; response: string | null };

const fromRaw = (r: Raw): DeadLetter => ({
  ...r,
  id: Number(r.id),
  outbox_id: Number(r.outbox_id),
  version: Number(r.version),
  attempts: Number(r.attempts),
  request: r.request === null ? null : JSON.parse(r.request),
  response: r.response === null ? null : JSON.parse(r.response),
});

export async function listDeadLetters(
  db: Db,
  filter: { destination?: string; all?: boolean; limit?: number } = {},
): Promise<DeadLetter[]> {
  const q = db("dead_letters").orderBy("id").limit(filter.limit ?? 1000);
  if (filter.destination) q.where({ destination: filter.destination });
  if (!filter.all) q.whereNull("resolution");
  return ((await q) as Raw[]).map(fromRaw);
}

export async function getDeadLetter(db: Db, id: number): Promise<DeadLetter | undefined> {
  const row = (await db("dead_letters").where({ id }).first()) as Raw | undefined;
  return row ? fromRaw(row) : undefined;
}

export async function resolveDeadLetters(
  db: Db,
  ids: readonly number[],
  resolution: "replayed" | "discarded" | "superseded",
  at: string,
  by: string,
) {
  if (ids.length === 0) return;
  await db("dead_letters")
    .whereIn("id", ids)
    .whereNull("resolution")
    .update({ resolution, resolved_at: at, resolved_by: by });
}

/**
 * Closes the open entries of these outbox rows (dead rows a newer version of their record superseded): the
 * new version carries their changes.
 */
export async function supersedeDeadLetters(db: Db, outboxIds: readonly number[], at: string) {
  if (outboxIds.length === 0) return;
  await db("dead_letters")
    .whereIn("outbox_id", outboxIds)
    .whereNull("resolution")
    .update({ resolution: "superseded", resolved_at: at, resolved_by: "ferry" });
}

/** Open entries per destination, for `ferry runs`. */
export async function deadLetterCounts(db: Db): Promise<{ destination: string; open: number }[]> {
  const rows = (await db("dead_letters").whereNull("resolution").select("destination").count({ n: "*" }).groupBy("destination")) as {
    destination: string;
    n: number | string;
  }[];
  return rows.map((r) => ({ destination: r.destination, open: Number(r.n) }));
}

/** The newest open entry of a destination, or undefined. */
export async function latestOpenDeadLetter(db: Db, destination: string): Promise<DeadLetter | undefined> {
  const row = (await db("dead_letters").where({ destination }).whereNull("resolution").orderBy("id", "desc").first()) as Raw | undefined;
  return row ? fromRaw(row) : undefined;
}
