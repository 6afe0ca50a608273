/**
 * Conversion of raw source values into canonical values, one function per field type. Throws DataError
 * with a message that says what was expected; the caller adds the field and line.
 */
import type { FieldType } from "../config/mapping.schema.ts";
import { DataError } from "../errors.ts";
import type { Value } from "./types.ts";

export type Converter = (raw: unknown) => Value;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
/** Decimal text already in the form normalizeDecimal gives (as most stored decimals are): kept as is. */
const CANONICAL_DECIMAL = /^(?:0|-?[1-9]\d*)(?:\.\d*[1-9])?$|^-0\.\d*[1-9]$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const ISO_DATETIME =
  /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:(?<=:\d{2}:\d{2})\.(\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?$/i;
const TRUE = new Set(["1", "true", "t", "yes", "y"]);
const FALSE = new Set(["0", "false", "f", "no", "n"]);

function bad(type: string, raw: unknown, hint = ""): DataError {
  const shown = typeof raw === "string" ? `"${raw.length > 60 ? `${raw.slice(0, 60)}…` : raw}"` : String(raw);
  return new DataError("DATA_BAD_VALUE", `expected ${type}, got ${shown}${hint}`);
}

const empty = (raw: unknown) => raw === null || raw === undefined || raw === "";

/** Exact decimal text: no exponent, no leading `+`, no superfluous zeros; `-0` is `0`. */
const MAX_EXPONENT = 400;

export function normalizeDecimal(text: string): string | null {
  const m = DECIMAL.exec(text.trim());
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) return null;
  // Written out, 1e999999999 would be a billion digits: no business value needs an exponent that large.
  if (Math.abs(Number(m[4] ?? 0)) > MAX_EXPONENT) return null;
  let digits = (m[2] ?? "") + (m[3] ?? "");
  let point = (m[2] ?? "").length + Number(m[4] ?? 0);
  if (point < 0) {
    digits = "0".repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits += "0".repeat(point - digits.length);
  const int = digits.slice(0, point).replace(/^0+/, "") || "0";
  const frac = digits.slice(point).replace(/0+$/, "");
  const out = frac ? `${int}.${frac}` : int;
  return m[1] === "-" && out !== "0" ? `-${out}` : out;
}

function validDate(y: number, m: number, d: number): boolean {
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** The number in `n` decimal digits of `s` from `at`, or -1 when one of them is not a digit. */
function digitsAt(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * `YYYY-MM-DD HH:MM:SS` (or with a `T`), without a zone: how legacy databases print a timestamp, on every
 * row. Checks each part and writes the ISO string directly, which costs a fraction of the regex, Date and
 * toISOString of the general path. Returns null for anything else, which the general path then handles,
 * so both give the same answer: years before 1000 go there too, for its handling of them.
 */
function plainDatetime(s: string): string | null {
  if (s.length !== 19) return null;
  const sep = s.charCodeAt(10);
  if ((sep !== 0x20 && sep !== 0x54) || s[4] !== "-" || s[7] !== "-" || s[13] !== ":" || s[16] !== ":") return null;
  const y = digitsAt(s, 0, 4);
  const m = digitsAt(s, 5, 2);
  const d = digitsAt(s, 8, 2);
  const h = digitsAt(s, 11, 2);
  const min = digitsAt(s, 14, 2);
  const sec = digitsAt(s, 17, 2);
  if (y < 1000 || m < 1 || m > 12 || d < 1 || d > daysInMonth(y, m)) return null;
  if (h < 0 || h > 23 || min < 0 || min > 59 || sec < 0 || sec > 59) return null;
  return `${s.slice(0, 10)}T${s.slice(11)}.000Z`;
}

/**
 * A canonical date-time's fraction of a second: milliseconds at least (the form every value has always
 * had), then as many digits as the source gave, up to nanoseconds, without trailing zeros past the third.
 * So one instant has one text, and equal instants compare equal whatever precision each source keeps.
 */
export function fractionDigits(digits: string): string {
  const kept = digits.replace(/0+$/, "");
  return kept.length <= 3 ? kept.padEnd(3, "0") : kept;
}

const converters: Record<FieldType, Converter> = {
  string(raw) {
    if (empty(raw)) return null;
    if (typeof raw === "string") return raw;
    if (typeof raw === "number" || typeof raw === "bigint" || typeof raw === "boolean") return String(raw);
    if (raw instanceof Date && !Number.isNaN(raw.getTime())) return raw.toISOString();
    throw bad("text", raw);
  },
  email(raw) {
    if (empty(raw)) return null;
    const s = String(raw).trim().toLowerCase();
    if (s === "") return null;
    if (!EMAIL.test(s)) throw bad("an email address", raw);
    return s;
  },
  integer(raw) {
    if (empty(raw)) return null;
    if (typeof raw === "number" && Number.isSafeInteger(raw)) return raw;
    if (
      typeof raw === "bigint" &&
      raw <= BigInt(Number.MAX_SAFE_INTEGER) &&
      raw >= BigInt(Number.MIN_SAFE_INTEGER)
    ) {
      return Number(raw);
    }
    if (typeof raw === "string" && INTEGER.test(raw.trim())) {
      const n = Number(raw.trim());
      if (Number.isSafeInteger(n)) return n;
      throw bad("a whole number within ±9007199254740991", raw, " (use type decimal for larger numbers)");
    }
    throw bad("a whole number", raw);
  },
  decimal(raw) {
    if (empty(raw)) return null;
    if (typeof raw === "string" && CANONICAL_DECIMAL.test(raw)) return raw;
    if (typeof raw === "number" && !Number.isFinite(raw)) throw bad("a decimal number", raw);
    const text =
      typeof raw === "number" || typeof raw === "bigint" ? String(raw) : typeof raw === "string" ? raw : null;
    const out = text === null ? null : normalizeDecimal(text);
    if (out === null) throw bad("a decimal number such as 1234.50", raw);
    return out;
  },
  boolean(raw) {
    if (empty(raw)) return null;
    if (typeof raw === "boolean") return raw;
    const s = String(raw).trim().toLowerCase();
    if (TRUE.has(s)) return true;
    if (FALSE.has(s)) return false;
    throw bad("a yes/no value (true/false, 1/0, yes/no, y/n)", raw);
  },
  date(raw) {
    if (empty(raw)) return null;
    if (raw instanceof Date) {
      if (Number.isNaN(raw.getTime())) throw bad("a date", raw);
      return raw.toISOString().slice(0, 10);
    }
    const s = String(raw).trim();
    const m = ISO_DATE.exec(s) ?? ISO_DATE.exec(s.slice(0, 10));
    if (m && (s.length === 10 || ISO_DATETIME.test(s)) && validDate(+m[1]!, +m[2]!, +m[3]!)) return m[0];
    throw bad("a date YYYY-MM-DD", raw, " (add a transform such as { date: DD.MM.YYYY } for other layouts)");
  },
  datetime(raw) {
    if (empty(raw)) return null;
    if (raw instanceof Date) {
      if (Number.isNaN(raw.getTime())) throw bad("a date and time", raw);
      return raw.toISOString();
    }
    if (typeof raw === "string") {
      const fast = plainDatetime(raw);
      if (fast !== null) return fast;
    }
    const s = String(raw).trim();
    const m = ISO_DATETIME.exec(s);
    // Date would roll an impossible day over (Feb 30 -> Mar 1): check the calendar date first.
    const d = m ? ISO_DATE.exec(m[1]!) : null;
    // A value without a zone is read as UTC. Date keeps milliseconds only: it places the whole second,
    // and the fraction, which no offset in use (whole minutes) can change, is written back as it came.
    const t = m && d && validDate(+d[1]!, +d[2]!, +d[3]!) ? new Date(`${m[1]}T${m[2]}${m[4] ?? "Z"}`) : null;
    if (!t || Number.isNaN(t.getTime())) throw bad("an ISO 8601 date and time", raw);
    return `${t.toISOString().slice(0, -5)}.${fractionDigits(m![3] ?? "")}Z`;
  },
};

export function converterFor(type: FieldType): Converter {
  return converters[type];
}

export function isEmptyValue(v: Value | undefined): boolean {
  return v === null || v === undefined || v === "";
}
