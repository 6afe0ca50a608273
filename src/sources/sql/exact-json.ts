/**
 * JSON read without losing a number. JSON.parse makes every number a double, which rounds
 * 12345678901234567890 to 12345678901234567000, 1e400 to Infinity (written back as null) and 1e-400 to 0.
 * Here a number the double does not hold exactly is kept as its own text (JSON.rawJSON), and JSON.stringify
 * writes it back digit for digit; every other value is parsed and written as JSON.parse and JSON.stringify
 * always did, so an ordinary document keeps the canonical text it had (compact, numbers in JavaScript's
 * shortest form: 1.10 is 1.1, 1E2 is 100, which are the same numbers).
 *
 * Uses JSON.parse's source text access and JSON.rawJSON (TC39's "JSON.parse source text access", in V8
 * since 11.4, so in every Node.js Ferry runs on) rather than a JSON library: the parsing stays the engine's.
 */
import { normalizeDecimal } from "../../engine/values.ts";

/** What TypeScript's lib does not declare yet. */
interface JsonWithSource {
  parse(text: string, reviver: (key: string, value: unknown, context: { source?: string }) => unknown): unknown;
  rawJSON(text: string): object;
}

const json = JSON as unknown as JsonWithSource;

/** Whether the double `value` is the number the JSON literal `literal` stands for. */
function holds(value: number, literal: string): boolean {
  if (!Number.isFinite(value)) return false;
  const shown = String(value);
  if (shown === literal) return true;
  const exact = normalizeDecimal(literal);
  return exact !== null && exact === normalizeDecimal(shown);
}

/** A JSON number literal as a double when that is exact, else as its text for JSON.stringify to write. */
export function exactNumber(literal: string): number | object {
  const value = Number(literal);
  return holds(value, literal) ? value : json.rawJSON(literal);
}

function keepNumbers(_key: string, value: unknown, context: { source?: string }): unknown {
  if (typeof value !== "number" || context.source === undefined || holds(value, context.source)) return value;
  return json.rawJSON(context.source);
}

/** JSON.parse, with the numbers a double would change kept as written. Throws what JSON.parse throws. */
export function parseJsonExact(text: string): unknown {
  return json.parse(text, keepNumbers);
}

/**
 * A parsed JSON or array value as JSON text, kept numbers written as they were read and 64-bit integers
 * (bigint) as digits. Null when the value holds NaN or an infinity, which JSON cannot carry: JSON.stringify
 * would write null for them, silently.
 */
export function jsonText(value: unknown): string | null {
  let finite = true;
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === "bigint") return json.rawJSON(v.toString());
    if (typeof v === "number" && !Number.isFinite(v)) finite = false;
    return v;
  });
  return finite ? text : null;
}
