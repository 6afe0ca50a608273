/** Per (entity, key, source): that source's last canonical values and their hash. */
import type { Observation, Values } from "../engine/types.ts";
import { type Db, selectByKeys, selectIn, upsertChunked } from "./store.ts";

export interface StoredSnapshot {
  key: string;
  hash: string;
  vals: string;
  source_time: string | null;
  observed_at: string;
  run_id: number;
}

/**
 * The stored hash of each of these keys in one source's snapshot. Only the hashes: most records of a run
 * are unchanged, and their values are never needed (see `loadSnapshotValues`).
 */
export async function loadSnapshotHashes(
  db: Db,
  entity: string,
  source: string,
  keys: readonly string[],
): Promise<Map<string, string>> {
  const rows = await selectByKeys<{ key: string; hash: string }>(
    db,
    "snapshots",
    ["key", "hash"],
    { entity, source },
    "key",
    keys,
  );
  const out = new Map<string, string>();
  for (const r of rows) out.set(r.key, r.hash);
  return out;
}

/** The stored values of these keys in one source's snapshot: those whose hash changed. */
export async function loadSnapshotValues(
  db: Db,
  entity: string,
  source: string,
  keys: readonly string[],
): Promise<Map<string, Values>> {
  const rows = await selectByKeys<{ key: string; vals: string }>(
    db,
    "snapshots",
    ["key", "vals"],
    { entity, source },
    "key",
    keys,
  );
  const out = new Map<string, Values>();
  for (const r of rows) out.set(r.key, JSON.parse(r.vals) as Values);
  return out;
}

/** Every source's observation of these keys (but `except`'s): what the sources that hold them say now. */
export async function loadObservations(db: Db, entity: string, keys: readonly string[], except?: string) {
  const rows = (await selectIn(keys, (slice) => {
    const query = db("snapshots")
      .select("key", "source", "vals", "source_time", "observed_at", "run_id")
      .where({ entity })
      .whereIn("key", slice as string[]);
    return except === undefined ? query : query.whereNot({ source: except });
  })) as (StoredSnapshot & { source: string })[];
  const out = new Map<string, Observation[]>();
  for (const r of rows) {
    const list = out.get(r.key) ?? [];
    list.push({
      source: r.source,
      values: JSON.parse(r.vals) as Values,
      sourceTime: r.source_time,
      observedAt: r.observed_at,
      run: String(r.run_id),
    });
    out.set(r.key, list);
  }
  return out;
}

export interface SnapshotWrite {
  key: string;
  hash: string;
  values: Values;
  sourceTime: string | null;
}

export async function writeSnapshots(
  db: Db,
  entity: string,
  source: string,
  runId: number,
  observedAt: string,
  rows: readonly SnapshotWrite[],
) {
  await upsertChunked(
    db,
    "snapshots",
    rows.map((r) => ({
      entity,
      key: r.key,
      source,
      hash: r.hash,
      vals: JSON.stringify(r.values),
      source_time: r.sourceTime,
      observed_at: observedAt,
      run_id: runId,
    })),
    ["entity", "key", "source"],
  );
}

/** A new digest for rows whose values stay as stored (see `hashRow`); nothing else of them changes. */
export async function updateSnapshotHashes(
  db: Db,
  entity: string,
  source: string,
  rows: readonly { key: string; hash: string }[],
) {
  // One statement per slice, the same SQL on SQLite and PostgreSQL (both name VALUES columns column1...).
  for (let i = 0; i < rows.length; i += 5_000) {
    const slice = rows.slice(i, i + 5_000);
    await db.raw(
      `UPDATE snapshots SET hash = v.column2 FROM (VALUES ${slice.map(() => "(?, ?)").join(", ")}) AS v
       WHERE snapshots.entity = ? AND snapshots.source = ? AND snapshots.key = v.column1`,
      [...slice.flatMap((r) => [r.key, r.hash]), entity, source],
    );
  }
}

export async function deleteSnapshots(db: Db, entity: string, source: string, keys: readonly string[]) {
  await selectIn(keys, async (slice) => {
    await db("snapshots")
      .where({ entity, source })
      .whereIn("key", slice as string[])
      .delete();
    return [];
  });
}

export async function countSnapshots(db: Db, entity: string, source: string): Promise<number> {
  const row = (await db("snapshots").where({ entity, source }).count({ n: "*" }).first()) as {
    n: number | string;
  };
  return Number(row.n);
}

/** Streams one source's stored keys, in pages, without loading them all. */
export async function* storedKeys(
  db: Db,
  entity: string,
  source: string,
  page = 10_000,
): AsyncGenerator<string[]> {
  let after: string | null = null;
  for (;;) {
    const q = db("snapshots").select("key").where({ entity, source }).orderBy("key").limit(page);
    if (after !== null) q.where("key", ">", after);
    const rows = (await q) as { key: string }[];
    if (rows.length === 0) return;
    yield rows.map((r) => r.key);
    after = rows.at(-1)!.key;
    if (rows.length < page) return;
  }
}
