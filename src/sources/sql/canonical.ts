/**
 * Rows as drivers return them, made canonical: date-times as ISO 8601 UTC, decimals and 64-bit integers
 * as exact strings, binary as base64, and values too large or impossible to carry exactly refused.
 */
import { Read, Refused } from "./dialects/dialect.ts";
import { jsonText } from "./exact-json.ts";

export type Canonical = { values: Record<string, unknown> } | { refused: string };

/** Converts the row in place (it is the driver's fresh object, read by no one else) and returns it. */
export function canonicalRow(row: Record<string, unknown>, maxLobBytes: number): Canonical {
  const values = row;
  for (const column in row) {
    let v = row[column];
    if (v instanceof Read) v = v.value;
    if (typeof v === "string") {
      if (v.length > maxLobBytes / 3 && Buffer.byteLength(v) > maxLobBytes) {
        return { refused: tooLarge(column, Buffer.byteLength(v), maxLobBytes) };
      }
      values[column] = v;
    } else if (v === null || v === undefined) {
      values[column] = null;
    } else if (typeof v === "number" || typeof v === "boolean") {
      values[column] = v;
    } else if (typeof v === "bigint") {
      values[column] = v.toString();
    } else if (v instanceof Date) {
      if (Number.isNaN(v.getTime())) return { refused: `column ${column} holds an invalid date` };
      values[column] = v.toISOString();
    } else if (Buffer.isBuffer(v) || v instanceof Uint8Array) {
      if (v.byteLength > maxLobBytes) return { refused: tooLarge(column, v.byteLength, maxLobBytes) };
      values[column] = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
    } else if (v instanceof Refused) {
      return { refused: v.reason };
    } else {
      // JSON and array columns arrive parsed, numbers a double would change kept as written (exact-json.ts);
      // they are carried as JSON text.
      const text = jsonText(v);
      if (text === null) return { refused: notJson(column) };
      values[column] = text;
    }
  }
  return { values };
}

/** The value to bind back for a cursor or key: what the database gave, before canonical conversion. */
export function rawValue(v: unknown): unknown {
  return v instanceof Read ? v.raw : v;
}

function tooLarge(column: string, bytes: number, max: number): string {
  return `column ${column} holds ${bytes} bytes, more than max_lob_bytes (${max}): raise max_lob_bytes in the job or leave the column out of the query`;
}

function notJson(column: string): string {
  return `column ${column} holds NaN or an infinity, which JSON cannot carry: cast it to text in the query (on PostgreSQL ${column}::text[] for an array) or leave the column out`;
}
