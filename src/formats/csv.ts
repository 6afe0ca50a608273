/**
 * Streaming CSV reader for the file-based sources: bytes in (decodeText), csv-parse in the middle, and out
 * come the header, then records and per-line rejects, in file order.
 *
 * A record with too few or too many fields is a reject and the file goes on. What makes the whole file
 * untrustworthy throws a FatalError: a quote that is never closed, a record larger than max_record_size,
 * two header columns with the same name, a column the caller reads missing from the header, an empty file,
 * a decoding error. Some are found only at the end, after records were yielded, so a caller must apply
 * nothing of a file before the generator has finished (file sources commit a whole run as one unit).
 *
 * Line numbers are the physical lines an editor shows, where each record starts. csv-parse's own
 * `info.lines` counts a CRLF inside a quoted field twice, so the count is kept here instead: a record ends
 * at one line break, and the line breaks inside it are the LFs its quoted values kept (a value is never
 * altered inside quotes). Empty lines are records for csv-parse (skip_empty_lines is done here, so they
 * are counted); whole comment lines are counted from csv-parse's `comment_lines`. Counting happens in
 * csv-parse's `on_record`, synchronously, because a stream that fails drops the records it had buffered
 * and the failing record's line must still be known.
 *
 * Line breaks are LF and CRLF, mixed freely, as in lines.ts; a lone CR is data. csv-parse is given both
 * explicitly: left to guess, it takes the first one it sees as the only one, and in a file that mixes
 * them it silently joins lines into one value.
 */
import type { Transform } from "node:stream";
import { CsvError, type InfoRecord, type Options, type Parser, parse } from "csv-parse";
import { ConfigError, DataError, type FatalCode, FatalError } from "../errors.ts";
import { type CsvSpec, normalizeHeader } from "./csv.config.ts";
import { CsvRecordTypes } from "./csv-records.ts";
import { decodeText } from "./decode.ts";

export { type CsvSpec, csvFormatSchema } from "./csv.config.ts";

export type CsvValues = Record<string, string>;

export type CsvItem =
  | { kind: "header"; columns: string[] }
  | { kind: "record"; line: number; values: CsvValues }
  | { kind: "reject"; line: number; error: DataError };

export interface CsvOptions {
  /** Names the file in messages. */
  name: string;
  /**
   * The columns the caller reads (a mapping's source columns), spelled as it spells them. Each must be in
   * the header, directly or through an alias, compared loosely (normalizeHeader); else the file fails
   * whole with SOURCE_CSV_MISSING_COLUMN rather than give records without it. Records carry these
   * spellings as keys.
   */
  columns?: readonly string[];
}

/** One row as csv-parse gives it, with the line it starts on. */
interface Row {
  line: number;
  fields: string[];
}

interface Column {
  /** 0-based position in the record. */
  index: number;
  /** The record key. */
  key: string;
  /** As the header (or the job's columns) writes it. */
  written: string;
}

/**
 * Reads a CSV file as items: the header first (once, before any record), then a record or a reject per
 * non-blank line. Record keys are, for each column: the alias name it is an alternative of, else the
 * caller's spelling in `options.columns`, else the header name as written, trimmed. Columns whose header
 * name is blank are not in the records. Values are strings, "" for an empty field.
 *
 * Throws ConfigError before reading anything when the aliases contradict `options.columns`, or when the
 * caller reads a column a headerless file's `columns` lacks. Decoding errors from decodeText pass through.
 */
export async function* readCsv(
  bytes: AsyncIterable<Uint8Array> | NodeJS.ReadableStream,
  spec: CsvSpec,
  options: CsvOptions,
): AsyncGenerator<CsvItem> {
  for await (const items of readCsvChunks(bytes, spec, options)) yield* items;
}

/**
 * `readCsv`, a run of items at a time (those of one piece of the decoded input): a reader of millions of
 * rows pays for one turn of the generators per piece instead of one per row.
 */
export async function* readCsvChunks(
  bytes: AsyncIterable<Uint8Array> | NodeJS.ReadableStream,
  spec: CsvSpec,
  options: CsvOptions,
): AsyncGenerator<CsvItem[]> {
  const where = `${options.name}: `;
  const start = startColumns(bytes, spec, options);
  const names = start.names;
  let columns = start.columns;
  let width = spec.columns?.length ?? 0;
  let widthIs = `the job's columns name ${width}`;
  let build = columns && builder(columns);

  const lines = new LineCounter(spec.comment !== undefined, spec.skip_empty_lines);
  const parser = csvParser(spec, lines);
  const types = spec.records ? new CsvRecordTypes(spec.records, where) : null;

  let started = false;
  try {
    for await (const rows of parsedRows(parser, decodeText(bytes, spec.encoding, { name: options.name }))) {
      const items: CsvItem[] = [];
      for (const { line, fields } of rows) {
        if (spec.skip_empty_lines && isBlank(fields)) continue;
        const kind = types?.classify(fields, line, columns !== null) ?? "record";
        if (kind === "skip" || kind === "trailer") continue;
        if (!started) {
          started = true;
          if (columns === null) {
            columns = resolveHeader(fields, line, names, spec, options);
            width = fields.length;
            widthIs = `the header (line ${line}) has ${width}`;
            build = builder(columns);
            items.push({ kind: "header", columns: columns.map((c) => c.key) });
            continue;
          }
          items.push({ kind: "header", columns: columns.map((c) => c.key) });
        }
        if (kind !== "record") {
          items.push({ kind: "reject", line, error: kind });
          continue;
        }
        if (fields.length !== width) {
          const message = `${where}line ${line} has ${fields.length} field${fields.length === 1 ? "" : "s"}; ${widthIs}: `
            + `check the line for a missing or extra delimiter (${JSON.stringify(spec.delimiter)}), or a value holding one that should be quoted`;
          items.push({ kind: "reject", line, error: new DataError("DATA_CSV_FIELD_COUNT", message, { details: { line, fields: fields.length, expected: width } }) });
          continue;
        }
        items.push({ kind: "record", line, values: build!(fields) });
      }
      if (items.length > 0) yield items;
    }
  } catch (e) {
    if (e instanceof CsvError) {
      throw parseFailure(e, lines.failing(parser.info.comment_lines), spec.header ? lines.header : spec.columns, spec, where);
    }
    throw e;
  } finally {
    parser.destroy();
  }
  if (!started) {
    // A headerless file whose trailer says it holds no record: an empty delivery, not an empty file.
    if (!(types?.trailerRead && columns)) throw emptyFile(spec, where);
    yield [{ kind: "header", columns: columns.map((c) => c.key) }];
  }
  types?.finish();
}

/** The header names' table and a headerless file's columns; the input is released when either is wrong. */
function startColumns(
  bytes: AsyncIterable<Uint8Array> | NodeJS.ReadableStream,
  spec: CsvSpec,
  options: CsvOptions,
): { names: NameTable; columns: Column[] | null } {
  try {
    const names = nameTable(spec, options);
    return { names, columns: spec.header ? null : resolveColumns(spec.columns!, 0, names, spec, options) };
  } catch (e) {
    // Nothing will read the input: release it (an open file) rather than leave it to the caller.
    if ("destroy" in bytes && typeof bytes.destroy === "function") bytes.destroy();
    throw e;
  }
}

/** csv-parse as the reader drives it: rows of fields, each numbered by `lines` as it is parsed. */
function csvParser(spec: CsvSpec, lines: LineCounter): Parser {
  const settings: Options<Row, string[]> = {
    delimiter: spec.delimiter,
    quote: spec.quote,
    escape: spec.quote === null ? null : spec.escape === undefined ? spec.quote : spec.escape,
    record_delimiter: ["\r\n", "\n"],
    relax_column_count: true,
    skip_empty_lines: false,
    bom: false,
    max_record_size: spec.max_record_size,
    trim: spec.trim,
    ...(spec.comment === undefined ? {} : { comment: spec.comment, comment_no_infix: true }),
    on_record: (fields: string[], info: InfoRecord) => lines.row(fields, info),
  };
  // The typings allow a record type other than string[] only with `columns`, which is not used here.
  return parse(settings as unknown as Options);
}

function emptyFile(spec: CsvSpec, where: string): FatalError {
  return new FatalError(
    "SOURCE_CSV_EMPTY",
    `${where}the file is empty (no line holds anything but whitespace${spec.comment === undefined ? "" : " or comments"}): `
    + `expected ${spec.header ? "a header line" : "records"}. Check that the export ran to completion; nothing was applied`,
  );
}

/**
 * Feeds the parser one piece of text at a time and takes every row it parsed from that piece at once. A
 * Transform runs its transform synchronously on a write it is ready for, and this reader writes only once
 * the rows of the previous piece are taken. The rows of a parser that failed are dropped, as a stream's
 * own iterator drops them, and its error is thrown.
 */
async function* parsedRows(parser: Transform, text: AsyncIterable<string>): AsyncGenerator<Row[]> {
  // A failing parser also emits its error: it is taken from `errored` and thrown here instead.
  parser.on("error", () => {});
  const take = (into: Row[] = []): Row[] => {
    for (let row = parser.errored ? null : (parser.read() as Row | null); row !== null; row = parser.read() as Row | null) {
      into.push(row);
    }
    if (parser.errored) throw parser.errored;
    return into;
  };
  for await (const piece of text) {
    parser.write(piece);
    const rows = take();
    if (rows.length > 0) yield rows;
  }
  parser.end();
  // The last rows come out of the parser's flush, after the end of the input.
  const rows = take();
  for await (const row of parser as AsyncIterable<Row>) rows.push(row);
  if (rows.length > 0) yield rows;
}

/** Keeps the line each record starts on, from inside csv-parse (see the module comment). */
class LineCounter {
  /**
   * The first row that is not skipped, as written: it names the fields in a parse error, which may come
   * before the header row reaches the reader.
   */
  header: string[] | undefined;
  private readonly comments: boolean;
  private readonly skipBlank: boolean;
  /** The line the next record starts on, comment lines between them aside. */
  private next = 1;
  private commentLines = 0;

  constructor(comments: boolean, skipBlank: boolean) {
    this.comments = comments;
    this.skipBlank = skipBlank;
  }

  row(fields: string[], info: InfoRecord): Row {
    if (this.header === undefined && !(this.skipBlank && isBlank(fields))) this.header = fields;
    if (this.comments) {
      this.next += info.comment_lines - this.commentLines;
      this.commentLines = info.comment_lines;
    }
    const line = this.next;
    let breaks = 1;
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]!;
      for (let nl = field.indexOf("\n"); nl !== -1; nl = field.indexOf("\n", nl + 1)) breaks++;
    }
    this.next = line + breaks;
    return { line, fields };
  }

  /** The line of the record csv-parse was reading when it stopped, given its comment line count then. */
  failing(commentLines: number): number {
    return this.next + (this.comments ? commentLines - this.commentLines : 0);
  }
}

/** An empty line, or one of only whitespace. */
function isBlank(fields: readonly string[]): boolean {
  return fields.length === 1 && /^\s*$/.test(fields[0]!);
}

/** What a normalized header name reads as: its alias name, or the caller's spelling. */
type NameTable = Map<string, string>;

function nameTable(spec: CsvSpec, options: CsvOptions): NameTable {
  const names: NameTable = new Map();
  for (const wanted of options.columns ?? []) names.set(normalizeHeader(wanted), wanted);
  const wanted = new Map(names);
  for (const [name, alternatives] of Object.entries(spec.aliases)) {
    const canonical = names.get(normalizeHeader(name)) ?? name;
    names.set(normalizeHeader(name), canonical);
    for (const alternative of alternatives) {
      const clash = wanted.get(normalizeHeader(alternative));
      if (clash !== undefined && clash !== canonical) {
        throw new ConfigError(
          "CONFIG_CSV_ALIAS_CONFLICT",
          `${options.name}: the mapping reads column "${clash}", but the job's aliases make "${alternative}" another name of ${name}: `
          + "remove it from the aliases, or have the mapping read " + name,
          undefined,
          { details: { column: clash, alias: name } },
        );
      }
      names.set(normalizeHeader(alternative), canonical);
    }
  }
  return names;
}

function resolveHeader(fields: string[], line: number, names: NameTable, spec: CsvSpec, options: CsvOptions): Column[] {
  const where = `${options.name}: `;
  const cr = fields.findIndex((f) => /\r(?!\n)/.test(f));
  if (cr !== -1) {
    throw new FatalError(
      "SOURCE_CSV_UNPARSABLE",
      `${where}line ${line}: the header holds a carriage return that ends no line (in column ${cr + 1}): the file's lines seem to end with a lone CR, `
      + "as old Mac exports do. Save the file with Windows (CRLF) or Unix (LF) line endings; nothing was applied",
      { details: { line, column: cr + 1, reason: "LONE_CR" } },
    );
  }
  return resolveColumns(fields, line, names, spec, options);
}

/** Keys the header's (or the job's) column names and checks them; `line` 0 means the job's columns. */
function resolveColumns(written: readonly string[], line: number, names: NameTable, spec: CsvSpec, options: CsvOptions): Column[] {
  const where = `${options.name}: `;
  const header = line === 0 ? "the job's columns" : `the header (line ${line})`;
  const columns: Column[] = [];
  const byKey = new Map<string, Column>();
  written.forEach((name, index) => {
    const normal = normalizeHeader(name);
    if (normal === "") return;
    const column = { index, key: names.get(normal) ?? name.trim(), written: name };
    const same = byKey.get(normalizeHeader(column.key));
    if (same) {
      const as = same.written.trim() === column.written.trim()
        ? ""
        : same.key === column.key
          ? ` both read as ${JSON.stringify(column.key)}`
          : " are the same name once case and spacing are ignored";
      throw new FatalError(
        "SOURCE_CSV_DUPLICATE_HEADER",
        `${where}${header} names the same column twice: column ${same.index + 1} (${JSON.stringify(same.written)}) and column ${index + 1} `
        + `(${JSON.stringify(name)})${as}. Rename or remove one of them in the file (or fix the job's aliases); nothing was applied`,
        { details: { line, columns: [same.index + 1, index + 1], names: [same.written, name], key: column.key } },
      );
    }
    byKey.set(normalizeHeader(column.key), column);
    columns.push(column);
  });
  if (columns.length === 0) {
    throw new FatalError(
      "SOURCE_CSV_EMPTY",
      `${where}${header} names no column: every name is blank. Check that this is the right file and that it has a header line`,
      { details: { line } },
    );
  }
  const keys = new Set(columns.map((c) => c.key));
  const missing = (options.columns ?? []).filter((c) => !keys.has(c));
  if (missing.length > 0) {
    const describe = (c: string): string => {
      const alternatives = Object.entries(spec.aliases).find(([name]) => normalizeHeader(name) === normalizeHeader(c))?.[1];
      return alternatives ? `"${c}" (nor ${alternatives.map((a) => `"${a}"`).join(", ")})` : `"${c}"`;
    };
    const found = columns.map((c) => JSON.stringify(c.written.trim())).join(", ");
    const message = `${where}${header} has no column ${missing.map(describe).join(", ")}, which the mapping reads; it has ${found}. `;
    if (line === 0) {
      throw new ConfigError("CONFIG_CSV_UNKNOWN_COLUMN", `${message}Add the column to the job's columns, or fix the mapping`, undefined, {
        details: { missing },
      });
    }
    throw new FatalError(
      "SOURCE_CSV_MISSING_COLUMN",
      `${message}If the column was renamed, add its new name to the job's aliases; nothing was applied`,
      { details: { line, missing, found: columns.map((c) => c.written) } },
    );
  }
  return columns;
}

/** Builds a record's values from its fields. */
function builder(columns: readonly Column[]): (fields: readonly string[]) => CsvValues {
  if (columns.some((c) => c.key === "__proto__")) {
    return (fields) => {
      const values: CsvValues = {};
      for (const c of columns) {
        Object.defineProperty(values, c.key, { value: fields[c.index]!, enumerable: true, writable: true, configurable: true });
      }
      return values;
    };
  }
  return (fields) => {
    const values: CsvValues = {};
    for (let i = 0; i < columns.length; i++) {
      const c = columns[i]!;
      values[c.key] = fields[c.index]!;
    }
    return values;
  };
}

function parseFailure(e: CsvError, line: number, header: readonly string[] | undefined, spec: CsvSpec, where: string): FatalError {
  const index = typeof e.index === "number" ? e.index : undefined;
  const named = index === undefined ? undefined : header?.[index]?.trim();
  const field = index === undefined ? "" : ` (field ${index + 1}${named ? `, ${JSON.stringify(named)}` : ""})`;
  const details = { line, ...(index === undefined ? {} : { field: index + 1 }), reason: e.code };
  const noQuotes = spec.quote === null ? "" : `, or set quote: null if the file never quotes values`;
  const fail = (code: FatalCode, message: string): FatalError =>
    new FatalError(code, `${where}line ${line}: ${message}; nothing was applied`, { cause: e, details });
  switch (e.code) {
    case "CSV_QUOTE_NOT_CLOSED":
      return fail(
        "SOURCE_CSV_UNPARSABLE",
        `a quoted field opened in the record starting on this line${field} is never closed, so the rest of the file reads as part of it. `
        + `Close the quote (a quote inside a quoted value is written twice: "")${noQuotes}`,
      );
    case "CSV_INVALID_CLOSING_QUOTE":
    case "CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE":
      return fail(
        "SOURCE_CSV_UNPARSABLE",
        `in the record starting on this line, a quoted field${field} is followed by other characters before the next delimiter. `
        + `A quote inside a quoted value is written twice (""); check the delimiter (${JSON.stringify(spec.delimiter)})${noQuotes}`,
      );
    case "INVALID_OPENING_QUOTE":
      return fail(
        "SOURCE_CSV_UNPARSABLE",
        `in the record starting on this line, a field${field} holds a quote but does not start with one. `
        + `Quote the whole value and write the inner quote twice ("5"" pipe")${noQuotes}`,
      );
    case "CSV_MAX_RECORD_SIZE":
      return fail(
        "SOURCE_CSV_RECORD_TOO_LARGE",
        `the record starting on this line is larger than max_record_size (${spec.max_record_size} bytes)${field}. `
        + `Usually a quote is never closed or the delimiter (${JSON.stringify(spec.delimiter)}) is wrong; if the file really holds values this large, raise max_record_size in the job`,
      );
    default:
      return fail("SOURCE_CSV_UNPARSABLE", `the file cannot be read as CSV (${e.message})`);
  }
}
