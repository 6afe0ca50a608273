/**
 * The state store: everything Ferry remembers, behind knex. SQLite (better-sqlite3) by default, PostgreSQL
 * when given a URL; the same migrations for both.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import knexFactory, { type Knex } from "knex";
import type { StateConfig } from "../config/project.schema.ts";
import { TransientError } from "../errors.ts";
import { keepPreparedStatements } from "../sqlite-statements.ts";
import { sleep } from "../sleep.ts";
import { migrations, migrationSource } from "./migrations.ts";

export type Db = Knex | Knex.Transaction;

export interface StateStore {
  readonly knex: Knex;
  readonly dialect: "sqlite" | "postgres";
  /** Describes where the state lives, without credentials. */
  readonly describe: string;
  close(): Promise<void>;
}

function redactUrl(url: string): string {
  // The password may also be a query parameter (`?password=`), which pg honours.
  return url.replace(/\/\/[^@/]*@/, "//***@").replace(/([?&]password=)[^&#]*/gi, "$1***");
}

export async function openStateStore(config: StateConfig, baseDir: string): Promise<StateStore> {
  let knex: Knex;
  let dialect: StateStore["dialect"];
  let describe: string;
  if ("url" in config) {
    dialect = "postgres";
    describe = `postgres ${redactUrl(config.url)}`;
    knex = knexFactory({ client: "pg", connection: config.url, pool: { min: 0, max: 4 } });
  } else {
    dialect = "sqlite";
    const file = config.path === ":memory:" ? ":memory:" : path.resolve(baseDir, config.path);
    if (file !== ":memory:") mkdirSync(path.dirname(file), { recursive: true });
    describe = `sqlite ${file}`;
    knex = knexFactory({
      client: "better-sqlite3",
      connection: { filename: file },
      useNullAsDefault: true,
      // One connection: SQLite has one writer, and transactions must not interleave on it.
      pool: {
        min: 1,
        max: 1,
        afterCreate: (conn: BetterSqlite3.Database, done: (err: Error | null, conn: unknown) => void) => {
          // 16 KiB pages (SQLite's default is 4 KiB) for a new state file; an existing one keeps its own. A
          // commit appends every page it changed to the WAL and a checkpoint copies them back: a batch's
          // rows span four times fewer pages, and the first sync of a table commits about a third faster.
          // The busy timeout first: switching a new file to WAL waits for another process opening it too.
          conn.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
          conn.pragma("page_size = 16384");
          conn.pragma("journal_mode = WAL");
          conn.pragma("synchronous = NORMAL");
          conn.pragma("foreign_keys = ON");
          keepPreparedStatements(conn);
          beginImmediately(conn);
          done(null, conn);
        },
      },
    });
  }
  try {
    await migrate(knex, dialect);
  } catch (e) {
    await knex.destroy();
    // Without the SQL knex puts in front of a driver's message: the reason is what the user can act on.
    throw new TransientError("STATE_UNAVAILABLE", `cannot open the state store (${describe}): ${withoutSql(e)}`, {
      cause: e,
    });
  }
  return { knex, dialect, describe, close: () => knex.destroy() };
}

/** How long a statement waits for another SQLite connection's write lock before it fails as busy. */
const SQLITE_BUSY_TIMEOUT_MS = 5_000;
/** How long opening a state store waits for another process that is migrating it. */
const MIGRATION_WAIT_MS = 60_000;
/** The PostgreSQL advisory lock that migrations hold (an arbitrary number of Ferry's: "Ferry" in ASCII). */
const MIGRATION_LOCK = 0x46_65_72_72_79;

/** Whether every migration Ferry has is recorded, and no other: then opening the store writes nothing. */
export async function upToDate(knex: Knex): Promise<boolean> {
  if (!(await knex.schema.hasTable("knex_migrations"))) return false;
  const done = new Set(((await knex("knex_migrations").select("name")) as { name: string }[]).map((r) => r.name));
  return done.size === migrations.length && migrations.every((m) => done.has(m.name));
}

/**
 * Brings the schema up to date, so that several processes may open a new state store at once: knex's own
 * migration lock is a row in a table it creates first, which two processes race to create. So the
 * migrations run in one transaction that first takes a lock the others wait for: on PostgreSQL an advisory
 * lock; on SQLite the write lock (its transactions begin immediately). Whoever waited finds the work done.
 */
async function migrate(knex: Knex, dialect: StateStore["dialect"]): Promise<void> {
  if (await upToDate(knex)) return;
  if (dialect === "postgres") {
    await knex.transaction(async (trx) => {
      await trx.raw(`SET LOCAL lock_timeout = '${MIGRATION_WAIT_MS}ms'`);
      await trx.raw("SELECT pg_advisory_xact_lock(?)", [MIGRATION_LOCK]);
      await trx.migrate.latest({ migrationSource });
    });
    return;
  }
  // SQLite waits for a lock synchronously, holding up this process's event loop (and any other opening in
  // it): short waits at BEGIN, tried again until the deadline, let the holder go on meanwhile. The pool has
  // one connection, so the pragma holds for the transaction.
  const deadline = Date.now() + MIGRATION_WAIT_MS;
  await knex.raw("PRAGMA busy_timeout = 100");
  try {
    for (;;) {
      try {
        await knex.transaction((trx) => trx.migrate.latest({ migrationSource }));
        return;
      } catch (e) {
        if (!String((e as { code?: unknown }).code).startsWith("SQLITE_BUSY") || Date.now() > deadline) throw e;
        await sleep(50 + Math.random() * 100);
      }
    }
  } finally {
    await knex.raw(`PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  }
}

/**
 * knex begins a SQLite transaction with a plain BEGIN, which takes the write lock only at the first write;
 * and when another connection has committed since the transaction first read, SQLite fails that write at
 * once with SQLITE_BUSY ("database is locked") rather than wait. Two processes writing one state file (two
 * jobs, a run beside a delivery) would fail each other's batches. BEGIN IMMEDIATE takes the write lock
 * first, waiting for it up to the busy timeout. Every transaction Ferry opens writes.
 */
function beginImmediately(conn: BetterSqlite3.Database): void {
  const prepare = conn.prepare.bind(conn);
  conn.prepare = ((sql: string) => prepare(sql === "BEGIN;" ? "BEGIN IMMEDIATE;" : sql)) as BetterSqlite3.Database["prepare"];
}

const quoteId = (name: string) => `"${name.replaceAll("\"", "\"\"")}"`;

/** Rows per multi-row statement so that bindings stay under SQLite's and PostgreSQL's limits. */
export function chunkFor(columns: number): number {
  return Math.max(1, Math.floor(30_000 / columns));
}

function isSqlite(db: Db): boolean {
  return (db.client.config as Knex.Config).client === "better-sqlite3";
}

interface PooledClient {
  acquireConnection(): Promise<BetterSqlite3.Database>;
  releaseConnection(conn: BetterSqlite3.Database): Promise<unknown>;
}

/**
 * Runs `fn` on the better-sqlite3 connection behind `db`: the transaction's own connection when `db` is
 * a transaction, so that what `fn` writes commits or rolls back with it; else the pool's, held until `fn`
 * returns. `fn` is synchronous, like better-sqlite3: nothing else runs on the connection meanwhile.
 */
async function onSqliteConnection<T>(db: Db, fn: (conn: BetterSqlite3.Database) => T): Promise<T> {
  const client = db.client as unknown as PooledClient;
  const conn = await client.acquireConnection();
  try {
    return fn(conn);
  } finally {
    await client.releaseConnection(conn);
  }
}

/** What better-sqlite3 binds: it refuses booleans and dates, which knex would have converted. */
function bindable(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v instanceof Date) return v.valueOf();
  return v;
}

/**
 * Writes rows with `INSERT`, optionally `ON CONFLICT ... DO UPDATE`: the same SQL on SQLite and PostgreSQL.
 * On SQLite, one kept prepared single-row statement, run for each row on the connection itself: a
 * multi-row statement cost knex a pass over every binding and SQLite a fresh parse of thousands of
 * parameters, more than the rows' own writing. On PostgreSQL, where each statement is a round trip,
 * multi-row statements.
 * (knex's own multi-row insert on SQLite is a compound SELECT, limited to 500 rows.)
 */
async function insertRows(
  db: Db,
  table: string,
  rows: Record<string, unknown>[],
  conflict?: string[],
): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!);
  const tuple = `(${columns.map(() => "?").join(",")})`;
  const head = `INSERT INTO ${quoteId(table)} (${columns.map(quoteId).join(",")}) VALUES `;
  const tail = conflict
    ? ` ON CONFLICT (${conflict.map(quoteId).join(",")}) DO UPDATE SET ${columns
      .filter((c) => !conflict.includes(c))
      .map((c) => `${quoteId(c)} = excluded.${quoteId(c)}`)
      .join(", ")}`
    : "";
  if (isSqlite(db)) {
    await onSqliteConnection(db, (conn) => {
      const statement = conn.prepare(head + tuple + tail);
      const write = () => {
        const values: unknown[] = new Array(columns.length);
        for (const r of rows) {
          for (let i = 0; i < columns.length; i++) values[i] = bindable(r[columns[i]!]);
          statement.run(values);
        }
      };
      // Outside a transaction, all the rows or none, as with one multi-row statement.
      if (conn.inTransaction) write();
      else conn.transaction(write)();
    });
    return;
  }
  const size = chunkFor(columns.length);
  for (let i = 0; i < rows.length; i += size) {
    const slice = rows.slice(i, i + size);
    const bindings: unknown[] = [];
    for (const r of slice) for (const c of columns) bindings.push(r[c] ?? null);
    await db.raw(head + new Array(slice.length).fill(tuple).join(",") + tail, bindings as Knex.RawBinding[]);
  }
}

export function insertChunked(db: Db, table: string, rows: Record<string, unknown>[]): Promise<void> {
  return insertRows(db, table, rows);
}

export function upsertChunked(
  db: Db,
  table: string,
  rows: Record<string, unknown>[],
  conflict: string[],
): Promise<void> {
  return insertRows(db, table, rows, conflict);
}

/**
 * A driver's error without the SQL text knex puts in front of it: that text holds record values, which
 * must not reach logs, run records or the terminal.
 */
export function withoutSql(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cut = message.lastIndexOf(" - ");
  const text = cut >= 0 ? message.slice(cut + 3) : message;
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/**
 * `SELECT columns FROM table WHERE <equal> AND keyColumn IN (keys)`: the lookups each batch makes by key.
 * On SQLite, a kept prepared statement that takes the keys as one JSON array: knex spent as long compiling
 * a query of a thousand bindings as SQLite spent running it. On PostgreSQL, knex's `IN`, in slices.
 */
export async function selectByKeys<T>(
  db: Db,
  table: string,
  columns: readonly string[],
  equal: Readonly<Record<string, string | number>>,
  keyColumn: string,
  keys: readonly string[],
): Promise<T[]> {
  if (keys.length === 0) return [];
  if (!isSqlite(db)) {
    return selectIn(keys, (slice) =>
      db(table)
        .select(...columns)
        .where(equal)
        .whereIn(keyColumn, slice as string[]),
    ) as Promise<T[]>;
  }
  const names = Object.keys(equal);
  const sql = `SELECT ${columns.map(quoteId).join(", ")} FROM ${quoteId(table)} WHERE ${names
    .map((n) => `${quoteId(n)} = ? AND `)
    .join("")}${quoteId(keyColumn)} IN (SELECT value FROM json_each(?))`;
  const bindings = [...names.map((n) => equal[n]), JSON.stringify(keys)];
  return onSqliteConnection(db, (conn) => conn.prepare(sql).all(bindings) as T[]);
}

/** `IN (...)` lookups in slices that fit the binding limits. */
export async function selectIn<T>(
  keys: readonly string[],
  query: (slice: readonly string[]) => Promise<T[]>,
  slice = 5_000,
): Promise<T[]> {
  if (keys.length <= slice) return keys.length === 0 ? [] : query(keys);
  const out: T[] = [];
  for (let i = 0; i < keys.length; i += slice) out.push(...(await query(keys.slice(i, i + slice))));
  return out;
}
