/** Conflicts opened by the `flag` rule or by an edit made in a destination (`remote_edits: conflict`), and their resolution. */
import type { ConflictCandidate, ConflictChange, OpenConflict, Value } from "../engine/types.ts";
import { type Db, selectIn } from "./store.ts";

export interface ConflictRow {
  id: number;
  entity: string;
  key: string;
  field: string;
  status: "open" | "resolved" | "closed";
  current: { value: Value; source: string };
  candidates: ConflictCandidate[];
  opened_run: number | null;
  opened_at: string;
  updated_at: string;
  closed_at: string | null;
  resolution: Record<string, unknown> | null;
}

interface RawConflict extends Omit<ConflictRow, "current" | "candidates" | "resolution"> {
  current: string;
  candidates: string;
  resolution: string | null;
}

const fromRaw = (r: RawConflict): ConflictRow => ({
  ...r,
  id: Number(r.id),
  current: JSON.parse(r.current),
  candidates: JSON.parse(r.candidates),
  resolution: r.resolution ? JSON.parse(r.resolution) : null,
});

export async function loadOpenConflicts(db: Db, entity: string, keys: readonly string[]) {
  const rows = (await selectIn(keys, (slice) =>
    db("conflicts")
      .select("id", "key", "field", "current", "candidates")
      .where({ entity, status: "open" })
      .whereIn("key", slice as string[]),
  )) as { id: number; key: string; field: string; current: string; candidates: string }[];
  const out = new Map<string, OpenConflict[]>();
  for (const r of rows) {
    const list = out.get(r.key) ?? [];
    list.push({ id: Number(r.id), field: r.field, current: JSON.parse(r.current), candidates: JSON.parse(r.candidates) });
    out.set(r.key, list);
  }
  return out;
}

export async function applyConflictChanges(
  db: Db,
  entity: string,
  key: string,
  runId: number | null,
  at: string,
  changes: readonly ConflictChange[],
): Promise<number> {
  let opened = 0;
  for (const c of changes) {
    if (c.type === "open") {
      await db("conflicts").insert({
        entity,
        key,
        field: c.field,
        status: "open",
        current: JSON.stringify(c.current),
        candidates: JSON.stringify(c.candidates),
        opened_run: runId,
        opened_at: at,
        updated_at: at,
      });
      opened++;
    } else if (c.type === "update") {
      await db("conflicts")
        .where({ id: c.id })
        .update({
          current: JSON.stringify(c.current),
          candidates: JSON.stringify(c.candidates),
          updated_at: at,
        });
    } else {
      await db("conflicts")
        .where({ id: c.id })
        .update({
          status: "closed",
          closed_at: at,
          updated_at: at,
          resolution: JSON.stringify({ by: "ferry", reason: c.reason }),
        });
    }
  }
  return opened;
}

export async function listConflicts(db: Db, filter: { status?: string; entity?: string; limit?: number }) {
  const q = db("conflicts")
    .select("*")
    .orderBy("id")
    .limit(filter.limit ?? 1000);
  if (filter.status) q.where({ status: filter.status });
  if (filter.entity) q.where({ entity: filter.entity });
  return ((await q) as RawConflict[]).map(fromRaw);
}

export async function getConflict(db: Db, id: number): Promise<ConflictRow | undefined> {
  const row = (await db("conflicts").where({ id }).first()) as RawConflict | undefined;
  return row ? fromRaw(row) : undefined;
}

export async function closeConflict(
  db: Db,
  id: number,
  status: "resolved" | "closed",
  at: string,
  resolution: object,
) {
  await db("conflicts")
    .where({ id })
    .update({ status, closed_at: at, updated_at: at, resolution: JSON.stringify(resolution) });
}
