/** SQLite through better-sqlite3: the file is opened read-only, so no statement can write to it. */
import type BetterSqlite3 from "better-sqlite3";
import { keepPreparedStatements } from "../../../sqlite-statements.ts";
import { type Dialect, doubleQuote, limitPage } from "./dialect.ts";

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
  rows: (result) => result as Record<string, unknown>[],
  writeAccess: null,
};
