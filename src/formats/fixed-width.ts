/**
 * Streaming fixed-width parser: lines in, records and per-line rejects out, in file order.
 *
 * A line that cannot give a record (too short, a bad number or date, no known record type) is a reject and
 * the file goes on. What makes the whole file untrustworthy throws a FatalError: a trailer whose count
 * disagrees with the records, a declared trailer that is missing, a second trailer, lines after the
 * trailer. Those are known only at the end, after records were yielded, so a caller must apply nothing of
 * a file before the generator has finished (file sources commit a whole run as one unit).
 */
import { type DataCode, DataError, FatalError } from "../errors.ts";
import { type DecodeOptions, decodeText } from "./decode.ts";
import {
  type FixedWidthColumn,
  type FixedWidthRecordType,
  type FixedWidthSpec,
  lastCharacter,
} from "./fixed-width.config.ts";
import { type SplitLinesOptions, type TextLine, splitLines } from "./lines.ts";

export type FixedWidthValues = Record<string, string | null>;

export type FixedWidthItem =
  | { kind: "record"; line: number; recordType?: string; values: FixedWidthValues }
  | { kind: "reject"; line: number; recordType?: string; error: DataError };

export interface FixedWidthOptions {
  /** Names the file in FatalError messages. */
  name?: string;
}

interface Field {
  what: string;
  from: number;
  to: number;
}

interface Column extends Field {
  name: string;
  convert: (trimmed: string) => string;
  trim: FixedWidthColumn["trim"];
  nulls: ReadonlySet<string>;
}

interface RecordType {
  name: string | undefined;
  prefix: string;
  skip: boolean;
  columns: Column[];
  count: Field | undefined;
  /** The shortest line this type can be read from, and the column that sets it. */
  needs: { length: number; column: string };
}

class BadValue extends Error {
  readonly code: DataCode;
  readonly expected: string;
  constructor(code: DataCode, expected: string) {
    super(expected);
    this.code = code;
    this.expected = expected;
  }
}

/** The column names records can carry, in declaration order (the union over record types). */
export function fixedWidthColumns(spec: FixedWidthSpec): string[] {
  const all = spec.columns ?? (spec.record_types ?? []).flatMap((t) => (t.skip ? [] : (t.columns ?? [])));
  return [...new Set(all.map((c) => c.name))];
}

/** Bytes to items: decodeText, splitLines and parseFixedWidth with the spec's encoding. */
export function readFixedWidth(
  bytes: AsyncIterable<Uint8Array> | NodeJS.ReadableStream,
  spec: FixedWidthSpec,
  options: FixedWidthOptions & DecodeOptions & SplitLinesOptions = {},
): AsyncGenerator<FixedWidthItem> {
  return parseFixedWidth(splitLines(decodeText(bytes, spec.encoding, options), options), spec, options);
}

export async function* parseFixedWidth(
  lines: AsyncIterable<TextLine>,
  spec: FixedWidthSpec,
  options: FixedWidthOptions = {},
): AsyncGenerator<FixedWidthItem> {
  const where = options.name ? `${options.name}: ` : "";
  const types = spec.columns
    ? [compileType(undefined, "", spec.columns, spec)]
    : spec.record_types!.map((t) => compileRecordType(t, spec)).sort((a, b) => b.prefix.length - a.prefix.length);
  const trailerType = types.find((t) => t.count);
  const counted = types.filter((t) => t.columns.length > 0).map((t) => t.name);
  let records = 0;
  let unknown = 0;
  let trailer: { line: number; count: number } | null = null;

  for await (const { text, line } of lines) {
    const type = types.find((t) => text.startsWith(t.prefix));
    if (trailer) {
      throw new FatalError(
        type === trailerType ? "SOURCE_FIXED_WIDTH_SECOND_TRAILER" : "SOURCE_FIXED_WIDTH_AFTER_TRAILER",
        type === trailerType
          ? `${where}line ${line} is a second trailer (the first is on line ${trailer.line}): the file is refused whole`
          : `${where}line ${line} comes after the trailer on line ${trailer.line}: the file is refused whole`,
        { details: { line, trailerLine: trailer.line } },
      );
    }
    if (!type) {
      unknown++;
      const expected = types.map((t) => `"${t.prefix}" (${t.name})`).join(", ");
      yield reject(line, undefined, "DATA_FIXED_WIDTH_UNKNOWN_RECORD_TYPE", `line ${line} starts with ${JSON.stringify(text.slice(0, 10))}, which is no known record type; expected a line starting with ${expected}`);
      continue;
    }
    if (type.skip) continue;
    const chars = toChars(text);
    if (type.count) {
      trailer = { line, count: readCount(type, type.count, chars, line, where) };
      continue;
    }
    records++;
    yield readRecord(type, chars, line, spec);
  }

  if (!trailerType) return;
  const what = `${counted.join(" or ")} records`;
  if (!trailer) {
    throw new FatalError(
      "SOURCE_FIXED_WIDTH_NO_TRAILER",
      `${where}the file has no trailer (a line starting with "${trailerType.prefix}"): it may be truncated and is refused whole`,
      { details: { records } },
    );
  }
  if (trailer.count !== records) {
    const strays = unknown > 0 ? ` (and ${unknown} line${unknown === 1 ? "" : "s"} of no known record type)` : "";
    throw new FatalError(
      "SOURCE_FIXED_WIDTH_TRAILER_COUNT",
      `${where}the trailer on line ${trailer.line} says ${trailer.count} ${what}; the file has ${records}${strays}: it is incomplete or altered and is refused whole`,
      { details: { line: trailer.line, expected: trailer.count, actual: records, unknown } },
    );
  }
}

/** The line, and its code points when it holds surrogate pairs, so that positions count code points. */
interface Chars {
  text: string;
  points: string[] | null;
  length: number;
}

function toChars(text: string): Chars {
  const points = /[\uD800-\uDFFF]/.test(text) ? Array.from(text) : null;
  return { text, points, length: points?.length ?? text.length };
}

/** Past the end of the line reads as spaces: a short record line gets here only with allow_short_lines. */
function slice(chars: Chars, field: Field): string {
  const raw = chars.points ? chars.points.slice(field.from, field.to).join("") : chars.text.slice(field.from, field.to);
  return raw.padEnd(field.to - field.from, " ");
}

function readRecord(type: RecordType, chars: Chars, line: number, spec: FixedWidthSpec): FixedWidthItem {
  const recordType = type.name;
  if (spec.record_length !== undefined && chars.length > spec.record_length) {
    return reject(line, recordType, "DATA_FIXED_WIDTH_LONG_LINE", `line ${line} has ${chars.length} characters; records have ${spec.record_length} (record_length)`);
  }
  if (chars.length < type.needs.length && !spec.allow_short_lines) {
    const reason = spec.record_length === undefined
      ? `${type.name ? `a ${type.name} record` : "a record"} needs ${type.needs.length} (column ${type.needs.column} ends at character ${type.needs.length})`
      : `records have ${spec.record_length} (record_length)`;
    return reject(line, recordType, "DATA_FIXED_WIDTH_SHORT_LINE", `line ${line} has ${chars.length} characters; ${reason}. If the file's trailing spaces were trimmed, set allow_short_lines: true`);
  }
  const values: FixedWidthValues = {};
  for (const column of type.columns) {
    const raw = slice(chars, column);
    const trimmed = raw.replace(/^ +| +$/g, "");
    if (trimmed === "" || column.nulls.has(trimmed)) {
      values[column.name] = null;
      continue;
    }
    try {
      values[column.name] = column.convert(column.trim === "both" ? trimmed : trimString(raw, column.trim));
    } catch (e) {
      if (!(e instanceof BadValue)) throw e;
      return reject(line, recordType, e.code, `line ${line}, ${column.what}: ${JSON.stringify(trimmed)} ${e.expected}`, { column: column.name, value: raw });
    }
  }
  return recordType === undefined ? { kind: "record", line, values } : { kind: "record", line, recordType, values };
}

function readCount(type: RecordType, field: Field, chars: Chars, line: number, where: string): number {
  const raw = slice(chars, field).trim();
  if (!/^\d+$/.test(raw)) {
    throw new FatalError(
      "SOURCE_FIXED_WIDTH_BAD_TRAILER",
      `${where}the ${type.name} on line ${line} holds ${JSON.stringify(raw)} at ${field.what}, where the record count should be: the file is refused whole`,
      { details: { line, value: raw } },
    );
  }
  return Number(raw);
}

function reject(
  line: number,
  recordType: string | undefined,
  code: DataCode,
  message: string,
  details: Record<string, unknown> = {},
): FixedWidthItem {
  const error = new DataError(code, message, { details: { line, ...details } });
  return recordType === undefined ? { kind: "reject", line, error } : { kind: "reject", line, recordType, error };
}

function trimString(raw: string, trim: FixedWidthColumn["trim"]): string {
  if (trim === "left") return raw.replace(/^ +/, "");
  if (trim === "right") return raw.replace(/ +$/, "");
  return raw;
}

function compileRecordType(t: FixedWidthRecordType, spec: FixedWidthSpec): RecordType {
  const type = compileType(t.name, t.prefix, t.columns ?? [], spec);
  if (t.skip) type.skip = true;
  if (t.count) type.count = field("count", t.count);
  return type;
}

function compileType(name: string | undefined, prefix: string, columns: FixedWidthColumn[], spec: FixedWidthSpec): RecordType {
  const compiled = columns.map((c): Column => ({
    ...field(`column ${c.name}`, c),
    name: c.name,
    trim: c.type === "string" ? c.trim : "both",
    nulls: new Set(c.null_values),
    convert: converter(c),
  }));
  const last = compiled.reduce<Column | undefined>((a, c) => (a && a.to >= c.to ? a : c), undefined);
  const needs = { length: spec.record_length ?? last?.to ?? 0, column: last?.name ?? "" };
  return { name, prefix, skip: false, columns: compiled, count: undefined, needs };
}

function field(what: string, p: { start: number; width?: number | undefined; end?: number | undefined }): Field {
  const to = lastCharacter(p);
  return { what: `${what} (characters ${p.start}-${to})`, from: p.start - 1, to };
}

function converter(c: FixedWidthColumn): (value: string) => string {
  switch (c.type) {
    case "string":
      return (v) => v;
    case "integer":
      return (v) => toNumber(v, 0, false, "is not a whole number; expected digits with an optional + or - before or after");
    case "decimal": {
      const implied = c.implied_decimals ?? 0;
      const expected = implied > 0
        ? `is not a number; expected digits with ${implied} implied decimals (no decimal point) and an optional + or - before or after`
        : "is not a number; expected digits with an optional decimal point (123.45) and an optional + or - before or after";
      return (v) => toNumber(v, implied, implied === 0, expected);
    }
    case "date":
      return dateConverter(c.format!);
  }
}

const NUMBER = /^([+-]?)(\d*)(?:\.(\d*))?([+-]?)$/;

/** An exact decimal string: no float ever holds the value. */
function toNumber(value: string, implied: number, pointAllowed: boolean, expected: string): string {
  const m = NUMBER.exec(value);
  const [, lead = "", whole = "", point, trail = ""] = m ?? [];
  if (!m || (lead && trail) || (whole === "" && !point) || (point !== undefined && !pointAllowed)) {
    throw new BadValue("DATA_FIXED_WIDTH_BAD_NUMBER", expected);
  }
  let integer = whole;
  let fraction = point ?? "";
  if (implied > 0) {
    const digits = whole.padStart(implied + 1, "0");
    integer = digits.slice(0, -implied);
    fraction = digits.slice(-implied);
  }
  integer = integer.replace(/^0+(?=\d)/, "") || "0";
  const negative = (lead || trail) === "-" && /[1-9]/.test(integer + fraction);
  return `${negative ? "-" : ""}${integer}${fraction ? `.${fraction}` : ""}`;
}

function dateConverter(format: string): (value: string) => string {
  const order: string[] = [];
  const source = format.replace(/YYYY|MM|DD|[-/. ]/g, (token) => {
    if (token.length === 1) return `\\${token}`;
    order.push(token);
    return `(\\d{${token.length}})`;
  });
  const pattern = new RegExp(`^${source}$`);
  const expected = `is not a date; expected a valid date written ${format}`;
  return (value) => {
    const m = pattern.exec(value);
    if (!m) throw new BadValue("DATA_FIXED_WIDTH_BAD_DATE", expected);
    const part = (t: string): string => m[order.indexOf(t) + 1]!;
    const [y, mo, d] = [part("YYYY"), part("MM"), part("DD")];
    const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
    if (y === "0000" || date.getUTCMonth() !== Number(mo) - 1 || date.getUTCDate() !== Number(d)) {
      throw new BadValue("DATA_FIXED_WIDTH_BAD_DATE", expected);
    }
    return `${y}-${mo}-${d}`;
  };
}
