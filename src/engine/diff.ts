/**
 * diff: what changed in one source's view of one record since its last snapshot. The hash lets the engine
 * skip an unchanged record with one string comparison, without loading its stored values.
 */
import { hash } from "node:crypto";
import type { Values } from "./types.ts";

/**
 * A stable digest of a record's values in the given field order. The order is the mapping's, so adding a
 * field changes every hash once (every record is compared again, nothing is missed).
 */
export function hashValues(values: Values, fields: readonly string[]): string {
  let text = "";
  for (const f of fields) {
    const v = values[f];
    // JSON keeps the types apart: 1, "1", true and null all hash differently.
    text += `${JSON.stringify(v === undefined ? null : v)}\u001f`;
  }
  return hash("sha1", text, "base64");
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
