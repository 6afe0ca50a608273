/**
 * Reading a REST API's answers as the configuration describes them: dotted paths into JSON, the API's id
 * for a record, the error it reports for one record, the match of a lookup. Pure.
 */

/** The value at a dotted path (`data.items`, `results.0.id`); the root for no path. */
export function valueAt(root: unknown, dotted: string | undefined): unknown {
  if (dotted === undefined) return root;
  let node = root;
  for (const segment of dotted.split(".")) {
    if (Array.isArray(node) && /^\d+$/.test(segment)) node = node[Number(segment)];
    else if (node !== null && typeof node === "object" && !Array.isArray(node)) node = (node as Record<string, unknown>)[segment];
    else return undefined;
  }
  return node;
}

/** An id as Ferry keeps it: text. Numbers are ids too; anything else is not. */
export function idOf(value: unknown): string | null {
  if (typeof value === "string" && value !== "") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return null;
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === "object" && Object.keys(value).length === 0;
}

/** The API's complaint about one record: the error field, present and not empty, as text. */
export function errorOf(entry: unknown, errorField: string | undefined): string | undefined {
  if (errorField === undefined) return undefined;
  const value = valueAt(entry, errorField);
  if (isEmpty(value)) return undefined;
  if (typeof value === "string") return value;
  const message = valueAt(value, "message") ?? valueAt(value, "0.message");
  if (typeof message === "string" && message !== "") return message;
  return JSON.stringify(value);
}

export type LookupMatch =
  | { kind: "found"; id: string }
  | { kind: "none" }
  | { kind: "ambiguous"; count: number }
  | { kind: "no-id" };

/**
 * What a lookup's answer says: the value at `resultPath` is a list (empty: not found; more than one: which
 * record is meant is unknown) or one object (null or absent: not found).
 */
export function lookupMatch(body: unknown, resultPath: string | undefined, idField: string): LookupMatch {
  const found = valueAt(body, resultPath);
  let match: unknown = found;
  if (Array.isArray(found)) {
    if (found.length > 1) return { kind: "ambiguous", count: found.length };
    match = found[0];
  }
  if (match === undefined || match === null || match === "") return { kind: "none" };
  const id = idOf(valueAt(match, idField));
  return id === null ? { kind: "no-id" } : { kind: "found", id };
}

/**
 * Each record's entry in a batch answer: by position, or by the key the entry holds. Null when the answer
 * holds no list where `path` says; an undefined entry when the list has nothing for that record.
 */
export function batchEntries(
  body: unknown,
  results: { path?: string | undefined; match_by?: "index" | "key" | undefined; key_field?: string | undefined },
  keys: readonly string[],
): unknown[] | null {
  const list = valueAt(body, results.path);
  if (!Array.isArray(list)) return null;
  if (results.match_by !== "key") return keys.map((_, i) => list[i]);
  const byKey = new Map<string, unknown>();
  for (const entry of list) {
    const key = valueAt(entry, results.key_field);
    if (typeof key === "string" || typeof key === "number") byKey.set(String(key), entry);
  }
  return keys.map((k) => byKey.get(k));
}

/** The API's own message in an error answer, for error messages. */
export function apiMessage(body: unknown): string | undefined {
  for (const path of ["message", "error_description", "error.message", "detail", "title", "error", "errors.0.message", "errors.0"]) {
    const value = valueAt(body, path);
    if (typeof value === "string" && value !== "") return value;
  }
  return undefined;
}
