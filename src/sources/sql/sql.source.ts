/**
 * `sql` source: pages through a job's query by key (snapshot) or by (cursor, key) (cursor mode), with the
 * query wrapped as a subquery. Keyset paging keeps memory flat and makes every page a fresh, short read.
 */
import path from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import knexFactory, { type Knex } from "knex";
import { ConfigError, type FerryError, TransientError } from "../../errors.ts";
import { keepPreparedStatements } from "../../sqlite-statements.ts";
import type { ReadRequest, Source, SourceBatch, SourceContext, SourceDefinition } from "../source.ts";
import { lowerBound } from "./lookback.ts";
import { assertReadOnlyQuery } from "./read-only.ts";
import { type SqlConnection, type SqlSourceConfig, sqlSourceSchema } from "./sql.config.ts";

const quote = (name: string) => `"${name.replaceAll("\"", "\"\"")}"`;

function connect(conn: SqlConnection, baseDir: string): Knex {
  return knexFactory({
    client: "better-sqlite3",
    connection: { filename: path.resolve(baseDir, conn.path), options: { readonly: true } },
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
  });
}

/** Driver errors: a busy or unreachable database is worth retrying; anything else is the query's fault. */
function queryError(e: unknown, connection: string): FerryError {
  const code = (e as { code?: string }).code ?? "";
  const message = ((e as Error).message ?? String(e)).replace(/^[\s\S]*? - /, "");
  if (/BUSY|LOCKED|ECONNREFUSED|ETIMEDOUT|ECONNRESET/.test(code)) {
    return new TransientError("SOURCE_UNAVAILABLE", `database ${connection} is unavailable: ${message}`, {
      cause: e,
    });
  }
  return new ConfigError(
    "SOURCE_SQL_QUERY_FAILED",
    `the query failed on ${connection}: ${message}. Check the job's query`,
    undefined,
    {
      cause: e,
    },
  );
}

export function createSqlSource(config: SqlSourceConfig, context: SourceContext): Source {
  const conn = context.connections[config.connection] as SqlConnection | undefined;
  if (!conn) {
    throw new ConfigError(
      "CONFIG_UNKNOWN_CONNECTION",
      `no connection named "${config.connection}" in ferry.yaml: the connections are ${Object.keys(context.connections).join(", ") || "(none)"}`,
    );
  }
  assertReadOnlyQuery(config.query, { file: "job", path: "source.query" });
  const db = connect(conn, context.baseDir);
  const inner = config.query.trim().replace(/;\s*$/, "");

  async function* read(req: ReadRequest): AsyncGenerator<SourceBatch> {
    const key = quote(req.keyColumn);
    let line = 0;
    let lastKey: unknown;
    const page = async (sql: string, bindings: unknown[], limit = req.batchSize) => {
      req.signal.throwIfAborted();
      try {
        return (await db.raw(sql, [...bindings, limit] as Knex.RawBinding[])) as Record<string, unknown>[];
      } catch (e) {
        throw queryError(e, config.connection);
      }
    };
    if (req.mode === "snapshot" || !req.cursor) {
      // Paging by key cannot step past a NULL key (`key > NULL` matches nothing: a page ending on one would
      // end the read). Rows without a key, rejected downstream, are read first, by offset; then the others.
      for (let offset = 0; ; offset += req.batchSize) {
        const rows = await page(
          `SELECT * FROM (\n${inner}\n) AS ferry_q WHERE ${key} IS NULL LIMIT ? OFFSET ${offset}`,
          [],
        );
        if (rows.length > 0)
          yield {
            rows: rows.map((values) => ({ values, line: ++line })),
            rejects: [],
            columns: Object.keys(rows[0]!),
          };
        if (rows.length < req.batchSize) break;
      }
      // Pages step on with `key >= last`, skipping the rows of the last key already read, so that a query
      // returning a key twice across a page boundary still yields both rows: the engine rejects the second
      // as a duplicate instead of never seeing it.
      let seenOfLast = 0;
      for (;;) {
        const where = `WHERE ${key} IS NOT NULL${lastKey === undefined ? "" : ` AND ${key} >= ?`}`;
        const limit = req.batchSize + seenOfLast;
        const fetched = await page(
          `SELECT * FROM (\n${inner}\n) AS ferry_q ${where} ORDER BY ${key} LIMIT ?`,
          lastKey === undefined ? [] : [lastKey],
          limit,
        );
        let skip = 0;
        while (skip < seenOfLast && skip < fetched.length && fetched[skip]![req.keyColumn] === lastKey)
          skip++;
        const rows = skip === 0 ? fetched : fetched.slice(skip);
        if (rows.length === 0) return;
        const previousLast = lastKey;
        lastKey = rows.at(-1)![req.keyColumn];
        let sameAsLast = 0;
        for (let i = rows.length - 1; i >= 0 && rows[i]![req.keyColumn] === lastKey; i--) sameAsLast++;
        seenOfLast = lastKey === previousLast ? seenOfLast + sameAsLast : sameAsLast;
        yield {
          rows: rows.map((values) => ({ values, line: ++line })),
          rejects: [],
          columns: Object.keys(rows[0]!),
        };
        if (fetched.length < limit) return;
      }
    }
    const cur = quote(req.cursor.column);
    // Rows whose cursor is NULL cannot be ordered by it: they are read in full at the start of every run.
    // Unchanged ones cost one hash comparison each.
    for (;;) {
      const rows = await page(
        `SELECT * FROM (\n${inner}\n) AS ferry_q WHERE ${cur} IS NULL ${lastKey === undefined ? "" : `AND ${key} > ?`} ORDER BY ${key} LIMIT ?`,
        lastKey === undefined ? [] : [lastKey],
      );
      if (rows.length === 0) break;
      lastKey = rows.at(-1)![req.keyColumn];
      yield {
        rows: rows.map((values) => ({ values, line: ++line })),
        rejects: [],
        columns: Object.keys(rows[0]!),
      };
      if (rows.length < req.batchSize) break;
    }
    const from = req.cursor.from;
    let position: { cursor: string | number; key: string | number } | null = null;
    for (;;) {
      let sql: string;
      let bindings: unknown[];
      if (position) {
        sql = `WHERE (${cur} > ? OR (${cur} = ? AND ${key} > ?))`;
        bindings = [position.cursor, position.cursor, position.key];
      } else if (from) {
        sql = `WHERE ${cur} >= ?`;
        bindings = [lowerBound(from.cursor, req.cursor.lookback)];
      } else {
        sql = `WHERE ${cur} IS NOT NULL`;
        bindings = [];
      }
      const rows = await page(
        `SELECT * FROM (\n${inner}\n) AS ferry_q ${sql} ORDER BY ${cur}, ${key} LIMIT ?`,
        bindings,
      );
      if (rows.length === 0) return;
      const last = rows.at(-1)!;
      position = {
        cursor: last[req.cursor.column] as string | number,
        key: last[req.keyColumn] as string | number,
      };
      yield {
        rows: rows.map((values) => ({ values, line: ++line })),
        rejects: [],
        columns: Object.keys(rows[0]!),
        position,
      };
      if (rows.length < req.batchSize) return;
    }
  }

  return {
    describe: `sql ${config.connection} (${conn.dialect})`,
    commitUnit: "batch",
    read,
    close: () => db.destroy(),
  };
}

export const sqlSource: SourceDefinition<SqlSourceConfig> = {
  type: "sql",
  configSchema: sqlSourceSchema,
  modes: ["snapshot", "cursor"],
  create: createSqlSource,
};
