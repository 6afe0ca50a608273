/** Golden records: per (entity, key), each field's value with its provenance. */
import type { GoldenField, GoldenRecord, RuleName, Value } from "../engine/types.ts";
import { type Db, selectByKeys, upsertChunked } from "./store.ts";

interface GoldenRow {
  entity: string;
  key: string;
  version: number;
  status: GoldenRecord["status"];
  fields: string;
}

/** Where a value came from: [source, run, at, sourceTime]. */
type StoredProvenance = [string, string, string, string | null];
/**
 * [value, index into the provenances, rule], then 1 while a conflict on the field is open (0 when a pin
 * follows), then an operator's pin: the holders' values it was decided on.
 */
type StoredField = [Value, number, RuleName] | [Value, number, RuleName, 0 | 1] | [Value, number, RuleName, 0 | 1, Record<string, Value>];

/**
 * The `fields` column. The fields of a record mostly share one provenance (the values one source gave in
 * one run), so the distinct provenances are stored once and each field points at its own:
 * `{"p":[["erp","12","2025-01-02T03:04:05.000Z",null]],"f":{"name":["Ada",0,"owner"],...}}`. Field by
 * field with its provenance repeated, a record of ten fields took four times the space, and SQLite's time
 * to write it grew with it.
 */
export function encodeFields(fields: Readonly<Record<string, GoldenField>>): string {
  const provenances: StoredProvenance[] = [];
  const out: Record<string, StoredField> = {};
  for (const name in fields) {
    const f = fields[name]!;
    // A record has a handful of provenances at most: a scan beats building a key per field to look up.
    let i = 0;
    for (; i < provenances.length; i++) {
      const p = provenances[i]!;
      if (p[0] === f.source && p[1] === f.run && p[2] === f.at && p[3] === f.sourceTime) break;
    }
    if (i === provenances.length) provenances.push([f.source, f.run, f.at, f.sourceTime]);
    out[name] = f.pin
      ? [f.value, i, f.rule, f.conflicted ? 1 : 0, f.pin]
      : f.conflicted
        ? [f.value, i, f.rule, 1]
        : [f.value, i, f.rule];
  }
  return JSON.stringify({ p: provenances, f: out });
}

export function decodeFields(text: string): Record<string, GoldenField> {
  const stored = JSON.parse(text) as { p: StoredProvenance[]; f: Record<string, StoredField> };
  const fields: Record<string, GoldenField> = {};
  for (const name in stored.f) {
    const [value, i, rule, conflicted, pin] = stored.f[name]!;
    const [source, run, at, sourceTime] = stored.p[i]!;
    const field: GoldenField = { value, source, run, at, sourceTime, rule };
    if (conflicted) field.conflicted = true;
    if (pin) field.pin = pin;
    fields[name] = field;
  }
  return fields;
}

const fromRow = (r: GoldenRow): GoldenRecord => ({
  entity: r.entity,
  key: r.key,
  version: Number(r.version),
  status: r.status,
  fields: decodeFields(r.fields),
});

export async function loadGolden(
  db: Db,
  entity: string,
  keys: readonly string[],
): Promise<Map<string, GoldenRecord>> {
  const rows = await selectByKeys<GoldenRow>(
    db,
    "golden",
    ["entity", "key", "version", "status", "fields"],
    { entity },
    "key",
    keys,
  );
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
      fields: encodeFields(r.fields),
      run_id: runId,
      updated_at: at,
    })),
    ["entity", "key"],
  );
}

/** Marks a field of a golden record as having an open conflict, or clears the mark; the rest of the record is untouched. */
export async function markConflicted(db: Db, entity: string, key: string, field: string, conflicted: boolean) {
  const record = await getGolden(db, entity, key);
  const f = record?.fields[field];
  if (!record || !f || (f.conflicted === true) === conflicted) return;
  const { conflicted: _, ...rest } = f;
  const fields = { ...record.fields, [field]: conflicted ? { ...rest, conflicted: true } : rest };
  await db("golden").where({ entity, key }).update({ fields: encodeFields(fields) });
}
