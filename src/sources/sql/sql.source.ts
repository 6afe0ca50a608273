/**
 * `sql` source: pages through a job's query by key (snapshot) or by (cursor, key) (cursor mode), with the
 * query wrapped as a subquery. Keyset paging keeps memory flat whatever the table's size and makes every
 * page a fresh, short, read-only statement. The dialect decides the SQL of a page, the driver settings and
 * how values arrive; this file decides which pages to ask for.
 */
import { existsSync } from "node:fs";
import knexFactory, { type Knex } from "knex";
import { ConfigError, DataError, FatalError, type FerryError, TransientError } from "../../errors.ts";
import type {
  CursorPosition,
  ReadRequest,
  Source,
  SourceBatch,
  SourceCheck,
  SourceContext,
  SourceDefinition,
} from "../source.ts";
import { canonicalRow, rawValue } from "./canonical.ts";
import { readSettings, resolveConnection } from "./connection.ts";
import type { Dialect, Statement } from "./dialects/dialect.ts";
import { dialects } from "./dialects/index.ts";
import { lowerBound } from "./lookback.ts";
import { assertReadOnlyQuery, maskSql } from "./read-only.ts";
import { type SqlConnection, sqlConnectionSchema, type SqlSourceConfig, sqlSourceSchema, validateSqlSource } from "./sql.config.ts";

/** Rows without a key cannot be applied; past this many the query is wrong, and the run says so. */
export const NULL_KEY_LIMIT = 10_000;
const DEFAULT_FETCH = 10_000;

type Row = Record<string, unknown>;

const TRANSIENT = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "EAI_AGAIN",
  "ESOCKET",
  "ETIMEOUT",
  "ECONNCLOSED",
  "PROTOCOL_CONNECTION_LOST",
  "ER_CON_COUNT_ERROR",
  "ER_LOCK_WAIT_TIMEOUT",
  "ER_LOCK_DEADLOCK",
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "57P01", // admin shutdown
  "57P03", // cannot connect now
  "53300", // too many connections
  "40001", // serialization failure
  "40P01", // deadlock
  "57014", // statement timeout
]);
const DENIED = new Set(["28P01", "28000", "ER_ACCESS_DENIED_ERROR", "ER_DBACCESS_DENIED_ERROR", "ELOGIN"]);
const UNKNOWN_COLUMN = /42703|ER_BAD_FIELD_ERROR|no such column|Invalid column name|ORA-00904/;

/** Driver errors: an unreachable or busy database is worth retrying; anything else is the job's to fix. */
export function queryError(e: unknown, connection: string, dialect: string): FerryError {
  const err = e as { code?: string | number; errno?: number; name?: string; message?: string };
  const code = String(err.code ?? "");
  const message = (err.message ?? String(e)).split("\n")[0]!;
  if (TRANSIENT.has(code) || err.name === "KnexTimeoutError" || /timeout|timed out|ORA-12170|ORA-12541|NJS-50[0-9]/i.test(message)) {
    return new TransientError(
      "SOURCE_UNAVAILABLE",
      `database ${connection} (${dialect}) is unavailable or too slow: ${message}. The run can be retried; check the server, the network and connect_timeout/query_timeout`,
      { cause: e },
    );
  }
  if (DENIED.has(code) || /ORA-01017|password authentication failed|Login failed/i.test(message)) {
    return new ConfigError(
      "SOURCE_SQL_LOGIN_REFUSED",
      `database ${connection} refused the login: ${message}. Check user and password in ferry.yaml`,
      undefined,
      { cause: e },
    );
  }
  if (UNKNOWN_COLUMN.test(`${code} ${message}`)) {
    return new ConfigError(
      "SOURCE_SQL_UNKNOWN_COLUMN",
      `the query on ${connection} has no such column: ${message}. The mapping's key and the job's cursor column must be columns the query returns, spelled as it returns them`,
      undefined,
      { cause: e },
    );
  }
  return new ConfigError(
    "SOURCE_SQL_QUERY_FAILED",
    `the query failed on ${connection}: ${message}. Check the job's query`,
    undefined,
    { cause: e },
  );
}

/** The job's query as a subquery: without its trailing semicolon (and whatever comments follow it). */
function innerQuery(query: string, dialect: Dialect): string {
  const masked = maskSql(query, dialect.name).trimEnd();
  const body = masked.endsWith(";") ? query.slice(0, masked.length - 1) : query;
  return body.trim();
}

function positionValue(v: unknown): string | number {
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

export function createSqlSource(config: SqlSourceConfig, context: SourceContext): Source {
  const conn = context.connections[config.connection] as SqlConnection | undefined;
  if (!conn) {
    throw new ConfigError(
      "CONFIG_UNKNOWN_CONNECTION",
      `no connection named "${config.connection}" in ferry.yaml: the connections are ${Object.keys(context.connections).join(", ") || "(none)"}`,
    );
  }
  const dialect = dialects[conn.dialect];
  assertReadOnlyQuery(config.query, conn.dialect, { file: "job", path: "source.query" });
  const query = innerQuery(config.query, dialect);
  const settings = readSettings(conn, config);
  const cancel = dialect.name === "postgres" || dialect.name === "mysql";
  let db: Knex | null = null;

  const open = (): Knex => {
    if (db) return db;
    const resolved = resolveConnection(conn, { name: config.connection, baseDir: context.baseDir, env: context.env });
    if (resolved.tls.mode === "insecure") {
      context.log.warn({ connection: config.connection }, "TLS certificate NOT verified for this connection (tls.mode: insecure)");
    } else if (resolved.tls.mode === "disable" && dialect.name !== "sqlite") {
      context.log.warn({ connection: config.connection }, "connection NOT encrypted (tls.mode: disable)");
    }
    if (resolved.path !== undefined && !existsSync(resolved.path)) {
      throw new ConfigError(
        "SOURCE_SQL_BAD_CONNECTION",
        `connection ${config.connection}: the SQLite database ${resolved.path} does not exist. Check its path in ferry.yaml (relative to ferry.yaml)`,
      );
    }
    try {
      db = knexFactory({
        ...dialect.knexConfig(resolved, settings),
        // knex would put the statement, with its bound values, in front of the driver's message: neither
        // belongs in an error a user reads, and values may be personal data.
        compileSqlOnError: false,
        log: {
          warn: (m: unknown) => context.log.warn({ connection: config.connection }, String(m)),
          error: (m: unknown) => context.log.debug({ connection: config.connection }, String(m)),
          deprecate: () => {},
          debug: () => {},
        },
      });
      db.on("query-error", (err: Error, query: { sql?: string }) => {
        if (typeof query?.sql === "string" && err.message.startsWith(`${query.sql} - `)) {
          err.message = err.message.slice(query.sql.length + 3);
        }
      });
    } catch (e) {
      throw new ConfigError("SOURCE_SQL_BAD_CONNECTION", `connection ${config.connection}: ${(e as Error).message}`, undefined, {
        cause: e,
      });
    }
    return db;
  };

  async function run(statement: Statement, signal: AbortSignal): Promise<Row[]> {
    signal.throwIfAborted();
    const k = open();
    const raw = (q: Knex | Knex.Transaction) => {
      let r = q.raw(statement.sql, statement.bindings as Knex.RawBinding[]);
      if (dialect.queryOptions) r = r.options(dialect.queryOptions(settings));
      return r.timeout(settings.queryTimeout, { cancel });
    };
    try {
      const ro = dialect.readOnly;
      const result =
        ro.kind === "transaction"
          ? await k.transaction((trx) => raw(trx), { readOnly: true })
          : ro.kind === "statement"
            ? await k.transaction(async (trx) => {
                await trx.raw(ro.sql);
                return raw(trx);
              })
            : await raw(k);
      return dialect.rows(result, settings);
    } catch (e) {
      throw queryError(e, config.connection, dialect.name);
    }
  }

  const bindCursor = (v: string | number) =>
    config.cursor_type === "rowversion" && dialect.bindCursor ? dialect.bindCursor(v) : v;

  async function* read(req: ReadRequest): AsyncGenerator<SourceBatch> {
    const key = dialect.quote(req.keyColumn);
    const fetchSize = config.fetch_size ?? Math.max(req.batchSize, DEFAULT_FETCH);
    let line = 0;

    /** A page's rows as batches of the job's size; in cursor mode each carries the position after it. */
    function* batches(rows: Row[], withPosition: boolean): Generator<SourceBatch> {
      for (let start = 0; start < rows.length; start += req.batchSize) {
        req.signal.throwIfAborted();
        const chunk = rows.slice(start, start + req.batchSize);
        const batch: SourceBatch = { rows: [], rejects: [], columns: Object.keys(chunk[0]!) };
        if (withPosition && req.cursor) {
          // Taken before the rows are made canonical: a checkpoint holds the database's own form.
          const last = chunk.at(-1)!;
          batch.position = {
            cursor: positionValue(last[req.cursor.column]),
            key: positionValue(last[req.keyColumn]),
          };
        }
        for (const row of chunk) {
          line++;
          const k = row[req.keyColumn];
          const canonical = canonicalRow(row, settings.maxLobBytes);
          if ("refused" in canonical) {
            batch.rejects.push({
              line,
              error: new DataError(
                "DATA_SQL_VALUE_REFUSED",
                `row ${line}${k === null || k === undefined ? "" : ` (key ${String(rawValue(k))})`}: ${canonical.refused}`,
              ),
            });
          } else batch.rows.push({ values: canonical.values, line });
        }
        yield batch;
      }
    }

    const page = (where: string, bindings: unknown[], orderBy: string[], limit = fetchSize) =>
      run(dialect.page({ query, where: { sql: where, bindings }, orderBy, limit }), req.signal);

    // Paging by key cannot step past a NULL key (`key > NULL` matches nothing). Rows without a key, which
    // the engine rejects, are read first, in one page.
    const keyless = await page(`${key} IS NULL`, [], [], NULL_KEY_LIMIT + 1);
    if (keyless.length > NULL_KEY_LIMIT) {
      throw new FatalError(
        "SOURCE_SQL_TOO_MANY_NULL_KEYS",
        `more than ${NULL_KEY_LIMIT} rows of the query on ${config.connection} have no ${req.keyColumn}: they cannot be synced. Filter them out in the query (WHERE ${req.keyColumn} IS NOT NULL) or fix the key column`,
      );
    }
    yield* batches(keyless, false);

    if (req.mode === "snapshot" || !req.cursor) {
      // Pages step on with `key >= last`, skipping the rows of the last key already read, so that a query
      // returning a key twice across a page boundary still yields both rows: the engine rejects the second
      // as a duplicate instead of never seeing it.
      let lastKey: unknown;
      let seenOfLast = 0;
      for (;;) {
        const limit = fetchSize + seenOfLast;
        const fetched = await page(
          `${key} IS NOT NULL${lastKey === undefined ? "" : ` AND ${key} >= ?`}`,
          lastKey === undefined ? [] : [lastKey],
          [key],
          limit,
        );
        let skip = 0;
        while (skip < seenOfLast && skip < fetched.length && rawValue(fetched[skip]![req.keyColumn]) === lastKey) skip++;
        const rows = skip === 0 ? fetched : fetched.slice(skip);
        if (rows.length === 0) return;
        const previousLast = lastKey;
        lastKey = rawValue(rows.at(-1)![req.keyColumn]);
        let sameAsLast = 0;
        for (let i = rows.length - 1; i >= 0 && rawValue(rows[i]![req.keyColumn]) === lastKey; i--) sameAsLast++;
        seenOfLast = lastKey === previousLast ? seenOfLast + sameAsLast : sameAsLast;
        yield* batches(rows, false);
        if (fetched.length < limit) return;
      }
    }

    const cur = dialect.quote(req.cursor.column);
    // Rows whose cursor is NULL cannot be ordered by it: they are read in full at the start of every run.
    // Unchanged ones cost one hash comparison each.
    let lastKey: unknown;
    for (;;) {
      const rows = await page(
        `${cur} IS NULL AND ${key} IS NOT NULL${lastKey === undefined ? "" : ` AND ${key} > ?`}`,
        lastKey === undefined ? [] : [lastKey],
        [key],
      );
      if (rows.length === 0) break;
      lastKey = rawValue(rows.at(-1)![req.keyColumn]);
      yield* batches(rows, false);
      if (rows.length < fetchSize) break;
    }
    const from = req.cursor.from;
    let position: CursorPosition | null = null;
    for (;;) {
      let where: string;
      let bindings: unknown[];
      if (position) {
        where = `${key} IS NOT NULL AND (${cur} > ? OR (${cur} = ? AND ${key} > ?))`;
        bindings = [bindCursor(position.cursor), bindCursor(position.cursor), position.key];
      } else if (from) {
        const bound =
          config.cursor_type === "rowversion"
            ? rowversionBound(from.cursor, req.cursor.lookback)
            : lowerBound(from.cursor, req.cursor.lookback);
        where = `${key} IS NOT NULL AND ${cur} >= ?`;
        bindings = [bindCursor(bound)];
      } else {
        where = `${key} IS NOT NULL AND ${cur} IS NOT NULL`;
        bindings = [];
      }
      const rows = await page(where, bindings, [cur, key]);
      if (rows.length === 0) return;
      const last = rows.at(-1)!;
      const next = { cursor: positionValue(last[req.cursor.column]), key: positionValue(last[req.keyColumn]) };
      if (position && next.cursor === position.cursor && next.key === position.key) {
        throw new FatalError(
          "SOURCE_SQL_CURSOR_STUCK",
          `the cursor on ${req.cursor.column} does not move past (${String(next.cursor)}, ${String(next.key)}): the database and Ferry disagree on its order, or the driver rounds it. Use a cursor column of a plain date-time, number or rowversion type`,
        );
      }
      position = next;
      yield* batches(rows, true);
      if (rows.length < fetchSize) return;
    }
  }

  async function check({ limit, signal }: { limit: number; signal: AbortSignal }): Promise<SourceCheck> {
    const notes: string[] = [];
    const warnings: string[] = [];
    const ro = dialect.readOnly;
    notes.push(
      ro.kind === "none"
        ? `read-only: ${ro.why}`
        : `read-only: every page runs in a read-only transaction (${ro.kind === "statement" ? ro.sql : "START TRANSACTION READ ONLY"})`,
    );
    const rows = await run(dialect.page({ query, where: { sql: "", bindings: [] }, orderBy: [], limit }), signal);
    if (dialect.writeAccess) {
      let findings: string[];
      try {
        // Through the same read-only path as every page: Ferry's own questions are reads too.
        findings = dialect.writeAccess.findings(await run({ sql: dialect.writeAccess.sql, bindings: [] }, signal));
      } catch (e) {
        findings = [];
        warnings.push(`could not ask the database what this login may write: ${(e as Error).message}`);
      }
      if (findings.length > 0) {
        warnings.push(
          `the login can write to the database; give Ferry a login that can only SELECT. It holds: ${findings.slice(0, 20).join("; ")}${findings.length > 20 ? ` (and ${findings.length - 20} more)` : ""}`,
        );
      } else if (warnings.length === 0) {
        notes.push("the login holds no write privilege Ferry could find");
      }
    }
    const values: Row[] = [];
    for (const row of rows) {
      const canonical = canonicalRow(row, settings.maxLobBytes);
      if ("refused" in canonical) warnings.push(canonical.refused);
      else values.push(canonical.values);
    }
    return { columns: Object.keys(rows[0] ?? {}), rows: values, notes, warnings };
  }

  return {
    describe: `sql ${config.connection} (${conn.dialect})`,
    commitUnit: "batch",
    read,
    check,
    close: async () => {
      if (db) await db.destroy();
    },
  };
}

export const sqlSource: SourceDefinition<SqlSourceConfig> = {
  type: "sql",
  configSchema: sqlSourceSchema,
  modes: ["snapshot", "cursor"],
  columnsFrom: "query",
  connectionSchema: sqlConnectionSchema,
  validate: validateSqlSource,
  create: createSqlSource,
};
