/**
 * diff: what changed in one source's view of one record since its last snapshot. The hash lets the engine
 * skip an unchanged record with one string comparison, without loading its stored values.
 */
import { hash } from "node:crypto";
import type { Value, Values } from "./types.ts";

/**
 * A stable digest of a record's values in the given field order. The order is the mapping's, so adding a
 * field changes every hash once (every record is compared again, nothing is missed).
 */
export function hashValues(values: Values, fields: readonly string[]): string {
  const list: Value[] = [];
  for (const f of fields) list.push(values[f] ?? null);
  // JSON keeps the types apart (1, "1", true and null all hash differently) and no value can run into the
  // next. One JSON text of the whole list: V8 writes it flat in one go, where concatenating a text per
  // value builds a rope that hashing must first copy flat, at twice the cost.
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
