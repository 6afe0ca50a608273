/**
 * Named, pure transforms applied to a source's raw column values before type conversion. A mapping names
 * them; `compileTransform` turns a list of steps into one function, once per run.
 */
import { DataError } from "../errors.ts";

export const TRANSFORM_NAMES = [
  "trim",
  "lower",
  "upper",
  "collapse_spaces",
  "digits",
  "null_if_empty",
  "join_space",
  "join_comma",
  "coalesce",
] as const;

export type TransformName = (typeof TRANSFORM_NAMES)[number];
export type TransformSpec =
  | TransformName
  | { date: string }
  | { lookup: Record<string, string> }
  | { default: string };

/** Combiners take every column of a multi-column `from`; the other transforms take one value. */
const COMBINERS = new Set<string>(["join_space", "join_comma", "coalesce"]);

export function isCombiner(step: TransformSpec): boolean {
  return typeof step === "string" && COMBINERS.has(step);
}

const isEmpty = (v: unknown) => v === null || v === undefined || v === "";

function text(v: unknown): string | null {
  if (isEmpty(v)) return null;
  return typeof v === "string" ? v : String(v);
}

function combine(name: string, values: unknown[]): unknown {
  const present = values.map(text).filter((v): v is string => v !== null && v.trim() !== "");
  if (name === "coalesce") return present[0] ?? null;
  if (present.length === 0) return null;
  return present.map((v) => v.trim()).join(name === "join_space" ? " " : ", ");
}

function single(name: TransformName): (v: unknown) => unknown {
  switch (name) {
    case "trim":
      return (v) => (typeof v === "string" ? v.trim() : v);
    case "lower":
      return (v) => (typeof v === "string" ? v.toLowerCase() : v);
    case "upper":
      return (v) => (typeof v === "string" ? v.toUpperCase() : v);
    case "collapse_spaces":
      return (v) => (typeof v === "string" ? v.trim().replace(/\s+/g, " ") : v);
    case "digits":
      return (v) => (isEmpty(v) ? null : String(v).replace(/\D+/g, "") || null);
    case "null_if_empty":
      return (v) => (typeof v === "string" && v.trim() === "" ? null : v);
    default:
      throw new Error(`${name} combines columns and cannot be applied to one value`);
  }
}

/** `DD.MM.YYYY`-style pattern (tokens YYYY, YY, MM, M, DD, D) to a parser returning `YYYY-MM-DD`. */
export function datePattern(pattern: string): (v: unknown) => unknown {
  const order: string[] = [];
  const source = pattern.replace(/YYYY|YY|MM|M|DD|D|[.*+?^${}()|[\]\\]/g, (token) => {
    if (/^[YMD]/.test(token)) {
      order.push(token[0]!);
      return token.length === 1 ? "(\\d{1,2})" : `(\\d{${token.length}})`;
    }
    return `\\${token}`;
  });
  if (!order.includes("Y") || !order.includes("M") || !order.includes("D")) {
    throw new Error(`date pattern "${pattern}" must contain a year, a month and a day (YYYY, MM, DD)`);
  }
  const re = new RegExp(`^${source}$`);
  return (v) => {
    const s = text(v)?.trim();
    if (!s) return null;
    const m = re.exec(s);
    if (!m) throw new DataError("DATA_BAD_DATE", `"${s}" does not match the date pattern ${pattern}`);
    const parts: Record<string, string> = {};
    order.forEach((k, i) => {
      parts[k] = m[i + 1]!;
    });
    let year = parts.Y!;
    if (year.length === 2) year = (Number(year) < 70 ? "20" : "19") + year;
    return `${year}-${parts.M!.padStart(2, "0")}-${parts.D!.padStart(2, "0")}`;
  };
}

export type Transform = (columns: unknown[]) => unknown;

/**
 * Compiles a list of steps for a `from` of `columnCount` columns. A multi-column `from` must start with a
 * combiner; the caller reports the error with the mapping's location.
 */
export function compileTransform(steps: TransformSpec[], columnCount: number): Transform {
  let first: Transform;
  let rest = steps;
  const head = steps[0];
  if (head !== undefined && isCombiner(head)) {
    const name = head as string;
    first = (cols) => combine(name, cols);
    rest = steps.slice(1);
  } else if (columnCount > 1) {
    throw new Error("several columns need a combiner first: join_space, join_comma or coalesce");
  } else {
    first = (cols) => cols[0];
  }
  const fns = rest.map((step): ((v: unknown) => unknown) => {
    if (typeof step === "string") return single(step);
    if ("date" in step) return datePattern(step.date);
    if ("lookup" in step) {
      const table = new Map(Object.entries(step.lookup));
      return (v) => (isEmpty(v) ? v : (table.get(String(v)) ?? v));
    }
    const fallback = step.default;
    return (v) => (isEmpty(v) ? fallback : v);
  });
  if (fns.length === 0) return first;
  return (cols) => {
    let v = first(cols);
    for (const fn of fns) v = fn(v);
    return v;
  };
}
