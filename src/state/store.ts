/**
 * The state store: everything Ferry remembers, behind knex. SQLite (better-sqlite3) by default, PostgreSQL
 * when given a URL; the same migrations for both.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import knexFactory, { type Knex } from "knex";
import type { StateConfig } from "../config/project.schema.ts";
import { TransientError } from "../errors.ts";
import { migrationSource } from "./migrations.ts";

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
        afterCreate: (
          conn: { pragma(s: string): unknown },
          done: (err: Error | null, conn: unknown) => void,
        ) => {
          conn.pragma("journal_mode = WAL");
          conn.pragma("synchronous = NORMAL");
          conn.pragma("foreign_keys = ON");
          conn.pragma("busy_timeout = 5000");
          done(null, conn);
        },
      },
    });
  }
  try {
    await knex.migrate.latest({ migrationSource });
  } catch (e) {
    await knex.destroy();
    throw new TransientError(
      "STATE_UNAVAILABLE",
      `cannot open the state store (${describe}): ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  return { knex, dialect, describe, close: () => knex.destroy() };
}

const quoteId = (name: string) => `"${name.replaceAll("\"", "\"\"")}"`;

/** Rows per multi-row statement so that bindings stay under SQLite's and PostgreSQL's limits. */
export function chunkFor(columns: number): number {
  return Math.max(1, Math.floor(30_000 / columns));
}

/**
 * Multi-row `INSERT ... VALUES (...), (...)`, optionally `ON CONFLICT ... DO UPDATE`: the same SQL on
 * SQLite and PostgreSQL. (knex's own multi-row insert on SQLite is a compound SELECT, limited to 500 rows.)
 */
async function insertRows(
  db: Db,
  table: string,
  rows: Record<string, unknown>[],
  conflict?: string[],
): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!);
  const size = chunkFor(columns.length);
  const tuple = `(${columns.map(() => "?").join(",")})`;
  const head = `INSERT INTO ${quoteId(table)} (${columns.map(quoteId).join(",")}) VALUES `;
  const tail = conflict
    ? ` ON CONFLICT (${conflict.map(quoteId).join(",")}) DO UPDATE SET ${columns
      .filter((c) => !conflict.includes(c))
      .map((c) => `${quoteId(c)} = excluded.${quoteId(c)}`)
      .join(", ")}`
    : "";
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
