/**
 * Which pages a read of the `sql` source asks for, phase by phase: the rows without a key, then the rows
 * by key (snapshot), or the rows whose cursor is NULL and then the rows by (cursor, key) (cursor mode).
 * Each phase says what its next page is and, given the page's rows, which of them to read and where it
 * stands after them. Nothing here runs a query.
 */
import { FatalError } from "../../errors.ts";
import type { CursorPosition, ReadRequest } from "../source.ts";
import { rawValue } from "./canonical.ts";
import type { Dialect, Statement } from "./dialects/dialect.ts";
import { lowerBound } from "./lookback.ts";
import type { Row } from "./sql.client.ts";

/** Rows without a key cannot be applied; past this many the query is wrong, and the run says so. */
export const NULL_KEY_LIMIT = 10_000;

/** A page of the job's query, without the query itself. */
export interface Page {
  where: Statement;
  orderBy: string[];
  limit: number;
}

export interface Phase {
  /** Whether each batch of this phase carries the cursor position after it. */
  readonly withPosition: boolean;
  /** The next page to ask for, or null when this phase has read everything. */
  next(): Page | null;
  /** Of the rows the page returned, the ones to read; decides whether another page follows. */
  take(fetched: Row[]): Row[];
}

export interface PagingOptions {
  /** The connection's name, for messages. */
  connection: string;
  dialect: Dialect;
  /** Rows per page (the job's fetch_size or its default). */
  fetchSize: number;
  /** The job's cursor is a rowversion (cursor_type: rowversion). */
  rowversion: boolean;
}

/** The phases of a read, made as each one starts. */
export function* phases(options: PagingOptions, req: ReadRequest): Generator<Phase> {
  const key = options.dialect.quote(req.keyColumn);
  // Paging by key cannot step past a NULL key (`key > NULL` matches nothing). Rows without a key, which
  // the engine rejects, are read first, in one page.
  yield keyless(options, req, key);
  if (req.mode === "snapshot" || !req.cursor) {
    yield byKey(options, req, key);
    return;
  }
  const cursor = req.cursor;
  const cur = options.dialect.quote(cursor.column);
  yield nullCursor(options, req, key, cur);
  yield byCursor(options, req, key, cur, cursor);
}

function keyless(options: PagingOptions, req: ReadRequest, key: string): Phase {
  let asked = false;
  return {
    withPosition: false,
    next() {
      if (asked) return null;
      asked = true;
      return { where: { sql: `${key} IS NULL`, bindings: [] }, orderBy: [], limit: NULL_KEY_LIMIT + 1 };
    },
    take(fetched) {
      if (fetched.length > NULL_KEY_LIMIT) {
        throw new FatalError(
          "SOURCE_SQL_TOO_MANY_NULL_KEYS",
          `more than ${NULL_KEY_LIMIT} rows of the query on ${options.connection} have no ${req.keyColumn}: they cannot be synced. Filter them out in the query (WHERE ${req.keyColumn} IS NOT NULL) or fix the key column`,
        );
      }
      return fetched;
    },
  };
}

/**
 * Snapshot pages step on with `key >= last`, skipping the rows of the last key already read, so that a
 * query returning a key twice across a page boundary still yields both rows: the engine rejects the second
 * as a duplicate instead of never seeing it.
 */
function byKey(options: PagingOptions, req: ReadRequest, key: string): Phase {
  const column = req.keyColumn;
  let lastKey: unknown;
  let seenOfLast = 0;
  let limit = 0;
  let done = false;
  return {
    withPosition: false,
    next() {
      if (done) return null;
      limit = options.fetchSize + seenOfLast;
      return {
        where: { sql: `${key} IS NOT NULL${lastKey === undefined ? "" : ` AND ${key} >= ?`}`, bindings: lastKey === undefined ? [] : [lastKey] },
        orderBy: [key],
        limit,
      };
    },
    take(fetched) {
      let skip = 0;
      while (skip < seenOfLast && skip < fetched.length && rawValue(fetched[skip]![column]) === lastKey) skip++;
      const rows = skip === 0 ? fetched : fetched.slice(skip);
      if (rows.length === 0) {
        done = true;
        return rows;
      }
      const previousLast = lastKey;
      lastKey = rawValue(rows.at(-1)![column]);
      let sameAsLast = 0;
      for (let i = rows.length - 1; i >= 0 && rawValue(rows[i]![column]) === lastKey; i--) sameAsLast++;
      seenOfLast = lastKey === previousLast ? seenOfLast + sameAsLast : sameAsLast;
      done = fetched.length < limit;
      return rows;
    },
  };
}

/**
 * Rows whose cursor is NULL cannot be ordered by it: they are read in full at the start of every run.
 * Unchanged ones cost one hash comparison each.
 */
function nullCursor(options: PagingOptions, req: ReadRequest, key: string, cur: string): Phase {
  let lastKey: unknown;
  let done = false;
  return {
    withPosition: false,
    next() {
      if (done) return null;
      return {
        where: {
          sql: `${cur} IS NULL AND ${key} IS NOT NULL${lastKey === undefined ? "" : ` AND ${key} > ?`}`,
          bindings: lastKey === undefined ? [] : [lastKey],
        },
        orderBy: [key],
        limit: options.fetchSize,
      };
    },
    take(rows) {
      done = rows.length < options.fetchSize;
      if (rows.length > 0) lastKey = rawValue(rows.at(-1)![req.keyColumn]);
      return rows;
    },
  };
}

/** Rows by (cursor, key), from the last committed position less the lookback, or from the start. */
function byCursor(options: PagingOptions, req: ReadRequest, key: string, cur: string, cursor: NonNullable<ReadRequest["cursor"]>): Phase {
  const bind = (v: string | number) => (options.rowversion && options.dialect.bindCursor ? options.dialect.bindCursor(v) : v);
  let position: CursorPosition | null = null;
  let done = false;
  return {
    withPosition: true,
    next() {
      if (done) return null;
      return { where: cursorWhere(key, cur, position, cursor, options.rowversion, bind), orderBy: [cur, key], limit: options.fetchSize };
    },
    take(rows) {
      done = rows.length < options.fetchSize;
      if (rows.length === 0) return rows;
      const last = rows.at(-1)!;
      const next = { cursor: positionValue(last[cursor.column]), key: positionValue(last[req.keyColumn]) };
      if (position && next.cursor === position.cursor && next.key === position.key) {
        throw new FatalError(
          "SOURCE_SQL_CURSOR_STUCK",
          `the cursor on ${cursor.column} does not move past (${String(next.cursor)}, ${String(next.key)}): the database and Ferry disagree on its order, or the driver rounds it. Use a cursor column of a plain date-time, number or rowversion type`,
        );
      }
      position = next;
      return rows;
    },
  };
}

function cursorWhere(
  key: string,
  cur: string,
  position: CursorPosition | null,
  cursor: NonNullable<ReadRequest["cursor"]>,
  rowversion: boolean,
  bind: (v: string | number) => unknown,
): Statement {
  if (position) {
    return { sql: `${key} IS NOT NULL AND (${cur} > ? OR (${cur} = ? AND ${key} > ?))`, bindings: [bind(position.cursor), bind(position.cursor), position.key] };
  }
  if (cursor.from) {
    const bound = rowversion ? rowversionBound(cursor.from.cursor, cursor.lookback) : lowerBound(cursor.from.cursor, cursor.lookback);
    return { sql: `${key} IS NOT NULL AND ${cur} >= ?`, bindings: [bind(bound)] };
  }
  return { sql: `${key} IS NOT NULL AND ${cur} IS NOT NULL`, bindings: [] };
}

/** A value as a checkpoint holds it: the database's own form, made a string or a number. */
export function positionValue(v: unknown): string | number {
  const raw = rawValue(v);
  if (Buffer.isBuffer(raw)) return `0x${raw.toString("hex")}`;
  if (typeof raw === "number" || typeof raw === "string") return raw;
  if (typeof raw === "bigint") return raw.toString();
  if (raw instanceof Date) return raw.toISOString();
  return String(raw);
}

/** A rowversion's lower bound: the hex value minus a number of versions. */
function rowversionBound(cursor: string | number, lookback: string | number | null): string | number {
  if (lookback === null || typeof cursor !== "string" || !/^0x[0-9a-f]+$/i.test(cursor)) return cursor;
  const back = BigInt(typeof lookback === "number" ? lookback : Number(lookback));
  const bound = BigInt(cursor) - back;
  return `0x${(bound < 0n ? 0n : bound).toString(16).padStart(cursor.length - 2, "0")}`;
}
