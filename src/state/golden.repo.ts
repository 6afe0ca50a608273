/** Golden records: per (entity, key), each field's value with its provenance. */
import type { GoldenRecord } from "../engine/types.ts";
import { type Db, selectIn, upsertChunked } from "./store.ts";

interface GoldenRow {
  entity: string;
  key: string;
  version: number;
  status: GoldenRecord["status"];
  fields: string;
}

const fromRow = (r: GoldenRow): GoldenRecord => ({
  entity: r.entity,
  key: r.key,
  version: Number(r.version),
  status: r.status,
  fields: JSON.parse(r.fields),
});

export async function loadGolden(
  db: Db,
  entity: string,
  keys: readonly string[],
): Promise<Map<string, GoldenRecord>> {
  const rows = (await selectIn(keys, (slice) =>
    db("golden")
      .select("entity", "key", "version", "status", "fields")
      .where({ entity })
      .whereIn("key", slice as string[]),
  )) as GoldenRow[];
  return new Map(rows.map((r) => [r.key, fromRow(r)]));
}

export async function getGolden(db: Db, entity: string, key: string): Promise<GoldenRecord | undefined> {
  const row = (await db("golden").where({ entity, key }).first()) as GoldenRow | undefined;
  return row ? fromRow(row) : undefined;
}

export async function writeGolden(
  db: Db,
  runId: number | null,
  at: string,
  records: readonly GoldenRecord[],
) {
  await upsertChunked(
    db,
    "golden",
    records.map((r) => ({
      entity: r.entity,
      key: r.key,
      version: r.version,
      status: r.status,
      fields: JSON.stringify(r.fields),
      run_id: runId,
      updated_at: at,
    })),
    ["entity", "key"],
  );
}
