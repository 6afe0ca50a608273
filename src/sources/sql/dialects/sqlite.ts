/**
 * SQLite through better-sqlite3: the file is opened read-only, so no statement can write to it. Pages are
 * read with safe integers (64-bit integers as bigint), since better-sqlite3 would otherwise round an
 * INTEGER past 2^53 to the nearest double; those within a double's exact range are numbers again.
 *
 * A page cannot be cancelled: better-sqlite3 runs a statement synchronously, on the event loop, so a
 * SIGTERM is only seen once the page has been read; the run then stops before its next batch.
 */
import type BetterSqlite3 from "better-sqlite3";
import { keepPreparedStatements } from "../../../sqlite-statements.ts";
import { type Dialect, doubleQuote, limitPage } from "./dialect.ts";

const MAX = BigInt(Number.MAX_SAFE_INTEGER);
const MIN = BigInt(Number.MIN_SAFE_INTEGER);

/** The rows of a page, integers a double holds exactly made numbers, larger ones left bigint (exact). */
export function sqliteRows(result: unknown): Record<string, unknown>[] {
  const rows = result as Record<string, unknown>[];
  for (const row of rows) {
    for (const column in row) {
      const v = row[column];
      if (typeof v === "bigint" && v <= MAX && v >= MIN) row[column] = Number(v);
    }
  }
  return rows;
}

export const sqlite: Dialect = {
  name: "sqlite",
  knexConfig: (connection) => ({
    client: "better-sqlite3",
    connection: { filename: connection.path!, options: { readonly: true, fileMustExist: true } },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      // Every page of a read runs the same query text.
      afterCreate: (c: BetterSqlite3.Database, done: (err: Error | null, c: unknown) => void) => {
        keepPreparedStatements(c);
        done(null, c);
      },
    },
  }),
  quote: doubleQuote,
  page: limitPage,
  readOnly: { kind: "none", why: "the database file is opened read-only" },
  queryOptions: () => ({ safeIntegers: true }),
  rows: sqliteRows,
  writeAccess: null,
  privileges: null,
};
