/**
 * diff: what changed in one source's view of one record since its last snapshot. The hash lets the engine
 * skip an unchanged record with one string comparison, without mapping it or loading its stored values.
 */
import { hash } from "node:crypto";
import type { Values } from "./types.ts";

/**
 * A stable digest of a raw source row: the columns a mapping reads, in its order, after the mapping's
 * signature (see `CompiledMapping.signature`) and anything else that decides what becomes of the row. A
 * snapshot stores it, so a row whose digest is unchanged is known unchanged without mapping it; a change of
 * mapping changes every digest once, and every row is mapped and compared again.
 */
export function hashRow(row: Readonly<Record<string, unknown>>, columns: readonly string[], signature: string): string {
  const list: unknown[] = [signature];
  for (const c of columns) {
    const v = row[c];
    // JSON has no bigint (it throws) and writes NaN and Infinity as null: give them texts of their own.
    // An absent column (undefined) is written as null, like a NULL.
    if (typeof v === "bigint") list.push({ bigint: String(v) });
    else if (typeof v === "number" && !Number.isFinite(v)) list.push({ number: String(v) });
    else list.push(v);
  }
  return hash("sha1", JSON.stringify(list), "base64");
}

/** Fields whose value differs between two versions of one source's record. Every field when there was none. */
export function changedFields(
  previous: Values | undefined,
  next: Values,
  fields: readonly string[],
): string[] {
  if (!previous) return fields.filter((f) => next[f] !== undefined);
  return fields.filter((f) => (previous[f] ?? null) !== (next[f] ?? null));
}

/** A record whose values differ from those its source's snapshot holds (or that it does not hold). */
export interface RowChange<T> {
  row: T;
  previous: Values | undefined;
  /** Fields whose value changed (see `changedFields`). */
  fields: string[];
}

export interface RowDiff<T> {
  /**
   * Rows that map to the values stored, though their digest changed (a column the mapping trims, a new
   * mapping that maps alike): unchanged, only their digest is brought up to date.
   */
  same: T[];
  changed: RowChange<T>[];
}

/** Compares mapped rows with the values stored for their keys in the source's snapshot (`previous`). */
export function diffRows<T extends { key: string; values: Values }>(
  rows: readonly T[],
  previous: ReadonlyMap<string, Values>,
  fields: readonly string[],
): RowDiff<T> {
  const out: RowDiff<T> = { same: [], changed: [] };
  for (const row of rows) {
    const before = previous.get(row.key);
    const changed = changedFields(before, row.values, fields);
    if (before && changed.length === 0) out.same.push(row);
    else out.changed.push({ row, previous: before, fields: changed });
  }
  return out;
}
