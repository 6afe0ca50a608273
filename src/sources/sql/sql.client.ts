/**
 * The only part of the `sql` source that talks to the database: opens the knex pool on the first statement,
 * runs each statement through the dialect's read-only path with the query timeout, and turns driver errors
 * into Ferry's (retry an unreachable database, stop on a refused login or a broken query).
 */
import { existsSync } from "node:fs";
import { setTimeout as delay } from "node:timers/promises";
import knexFactory, { type Knex } from "knex";
import { ConfigError, describeError, type FerryError, TransientError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { type Dialect, knexCancel, type ReadSettings, type ResolvedConnection, type Statement } from "./dialects/dialect.ts";

export type Row = Record<string, unknown>;

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
/** pg, mysql2 and tedious refusing to go on without the TLS the connection asks for. */
const NO_TLS = /does not support SSL connections|HANDSHAKE_NO_SSL_SUPPORT|did not negotiate encryption/;
const DENIED = new Set(["28P01", "28000", "ER_ACCESS_DENIED_ERROR", "ER_DBACCESS_DENIED_ERROR", "ELOGIN"]);
const UNKNOWN_COLUMN = /42703|ER_BAD_FIELD_ERROR|no such column|Invalid column name|ORA-00904/;

/** Driver errors: an unreachable or busy database is worth retrying; anything else is the job's to fix. */
export function queryError(e: unknown, connection: string, dialect: string): FerryError {
  const err = e as { code?: string | number; errno?: number; name?: string; message?: string };
  const code = String(err.code ?? "");
  const message = (err.message ?? String(e)).split("\n")[0]!;
  if (NO_TLS.test(`${code} ${message}`)) return noTls(connection, dialect, message, e);
  if (code === "EENCRYPT" && /requires encryption/.test(message)) {
    return new ConfigError(
      "SOURCE_SQL_TLS_UNAVAILABLE",
      `database ${connection} (${dialect}) requires TLS: ${message}. Remove tls.mode: disable from connections.${connection} in ferry.yaml (the default, verify, checks the server's certificate; insecure accepts any)`,
      undefined,
      { cause: e },
    );
  }
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

/** The server does not offer TLS, which the connection's tls.mode (verify, the default, or insecure) requires. */
function noTls(connection: string, dialect: string, message: string, e: unknown): FerryError {
  return new ConfigError(
    "SOURCE_SQL_TLS_UNAVAILABLE",
    `database ${connection} (${dialect}) does not offer TLS (${message}), which the connection's tls.mode requires (verify, the default, or insecure). Turn TLS on at the server, or, on a network you trust, set tls.mode: disable on connections.${connection} in ferry.yaml (each run then warns that the connection is not encrypted)`,
    undefined,
    { cause: e },
  );
}

export interface SqlClientOptions {
  /** The connection's name in ferry.yaml, for messages and logs. */
  name: string;
  dialect: Dialect;
  settings: ReadSettings;
  log: Logger;
  /** The connection with its credentials resolved; called when the first statement runs, not before. */
  resolve: () => ResolvedConnection;
}

export interface SqlClient {
  /**
   * Runs one statement read-only (as the dialect makes it so) and returns its rows as the dialect shapes
   * them. Throws what `queryError` makes of a driver error, or a ConfigError when the connection cannot be
   * opened.
   */
  run(statement: Statement, signal: AbortSignal): Promise<Row[]>;
  close(): Promise<void>;
}

export function sqlClient(options: SqlClientOptions): SqlClient {
  const { name, dialect, settings } = options;
  let db: Knex | null = null;
  return {
    async run(statement, signal) {
      signal.throwIfAborted();
      const k = (db ??= openKnex(options));
      try {
        return dialect.rows(await onConnection(k, options, signal, (c) => readOnly(k, c, statement, dialect, settings, signal)), settings);
      } catch (e) {
        if (signal.aborted) {
          const message = `the query on ${name} was stopped: the run was interrupted (${describeError(signal.reason)})`;
          throw new TransientError("RUN_INTERRUPTED", message, { cause: e });
        }
        throw queryError(e, name, dialect.name);
      }
    },
    close: async () => {
      if (db) await db.destroy();
    },
  };
}

/** One statement on `connection`, read-only the dialect's way. */
function readOnly(k: Knex, connection: unknown, statement: Statement, dialect: Dialect, settings: ReadSettings, signal: AbortSignal) {
  const raw = (q: Knex | Knex.Transaction) => {
    // Aborted while the transaction began: its cancel may have come before the statement.
    signal.throwIfAborted();
    return rawStatement(q, connection, statement, dialect, settings);
  };
  const ro = dialect.readOnly;
  if (ro.kind === "transaction") return k.transaction((trx) => raw(trx), { readOnly: true, connection });
  if (ro.kind === "statement") {
    return k.transaction(
      async (trx) => {
        await trx.raw(ro.sql);
        return raw(trx);
      },
      { connection },
    );
  }
  return raw(k);
}

function rawStatement(q: Knex | Knex.Transaction, connection: unknown, statement: Statement, dialect: Dialect, settings: ReadSettings) {
  let r = q.raw(statement.sql, statement.bindings as Knex.RawBinding[]);
  // knex runs a builder on its `_connection` when it has one (QueryBuilder.connection() sets it; Raw has no
  // setter): outside a transaction, the statement runs on the connection the abort signal can cancel.
  (r as unknown as { _connection: unknown })._connection = connection;
  if (dialect.queryOptions) r = r.options(dialect.queryOptions(settings));
  const knexCancels = dialect.cancel?.query === knexCancel;
  return r.timeout(settings.queryTimeout, { cancel: knexCancels });
}

/**
 * Runs `work` on a connection of the pool that the abort signal can reach: when it fires, the statement in
 * flight is cancelled (asked again after a second, since a cancel that arrives between two statements
 * stops nothing), and when asking fails or is not heard, its connection is dropped. Either way the
 * statement fails and `work` rejects: nothing waits for the page, and the run commits no batch of it.
 */
async function onConnection<T>(
  k: Knex,
  options: SqlClientOptions,
  signal: AbortSignal,
  work: (connection: unknown) => Promise<T>,
): Promise<T> {
  const connection: unknown = await k.client.acquireConnection();
  const settled = Promise.withResolvers<void>();
  let stopping: Promise<void> | undefined;
  const onAbort = () => {
    stopping = stopStatement(k, connection, options, settled.promise);
  };
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    signal.throwIfAborted();
    return await work(connection);
  } finally {
    settled.resolve();
    signal.removeEventListener("abort", onAbort);
    await stopping;
    await k.client.releaseConnection(connection);
  }
}

const CANCEL_ATTEMPTS = 3;
/** How long a cancel may take to be asked, and then to be heard, before the next step. */
const CANCEL_WAIT_MS = 1_000;

const after = (ms: number) => delay(ms, "late" as const, { ref: false });

async function stopStatement(k: Knex, connection: unknown, { name, dialect, log }: SqlClientOptions, settled: Promise<void>) {
  const cancel = dialect.cancel;
  if (!cancel) return;
  const over = settled.then(() => "settled" as const);
  for (let attempt = 0; attempt < CANCEL_ATTEMPTS; attempt++) {
    const asked = cancel.query(connection, k).then(
      () => "asked" as const,
      (e: unknown) => {
        log.warn({ connection: name, err: describeError(e) }, "could not cancel the query in flight");
        return "failed" as const;
      },
    );
    const outcome = await Promise.race([over, asked, after(CANCEL_WAIT_MS)]);
    if (outcome === "settled") return;
    if (outcome !== "asked") break;
    if ((await Promise.race([over, after(CANCEL_WAIT_MS)])) === "settled") return;
  }
  if (!cancel.disconnect) return;
  log.warn({ connection: name }, "the query in flight did not stop: dropping its connection");
  // The pool destroys a connection marked so instead of handing it out again.
  (connection as { __knex__disposed?: unknown }).__knex__disposed = "dropped: its query would not stop";
  cancel.disconnect(connection);
}

function openKnex({ name, dialect, settings, log, resolve }: SqlClientOptions): Knex {
  const resolved = resolve();
  if (resolved.tls.mode === "insecure") {
    log.warn({ connection: name }, "TLS certificate NOT verified for this connection (tls.mode: insecure)");
  } else if (resolved.tls.mode === "disable" && dialect.name !== "sqlite") {
    log.warn({ connection: name }, "connection NOT encrypted (tls.mode: disable)");
  }
  if (resolved.path !== undefined && !existsSync(resolved.path)) {
    throw new ConfigError(
      "SOURCE_SQL_BAD_CONNECTION",
      `connection ${name}: the SQLite database ${resolved.path} does not exist. Check its path in ferry.yaml (relative to ferry.yaml)`,
    );
  }
  try {
    const db = knexFactory({
      ...dialect.knexConfig(resolved, settings),
      // knex would put the statement, with its bound values, in front of the driver's message: neither
      // belongs in an error a user reads, and values may be personal data.
      compileSqlOnError: false,
      log: {
        // A connection that cannot be opened fails the statement, and the run says why: knex's own warning,
        // with the driver's stack, would only repeat it.
        warn: (m: unknown) =>
          String(m).startsWith("Acquire connection error") ? log.debug({ connection: name }, String(m)) : log.warn({ connection: name }, String(m)),
        error: (m: unknown) => log.debug({ connection: name }, String(m)),
        deprecate: () => {},
        debug: () => {},
      },
    });
    db.on("query-error", (err: Error, query: { sql?: string }) => {
      if (typeof query?.sql === "string" && err.message.startsWith(`${query.sql} - `)) {
        err.message = err.message.slice(query.sql.length + 3);
      }
    });
    return db;
  } catch (e) {
    throw new ConfigError("SOURCE_SQL_BAD_CONNECTION", `connection ${name}: ${(e as Error).message}`, undefined, {
      cause: e,
    });
  }
}
