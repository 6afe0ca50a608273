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
  return url.replace(/\/\/[^@/]*@/, "//***@");
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

/** Rows per multi-row statement so that bindings stay under SQLite's and PostgreSQL's limits. */
export function chunkFor(columns: number): number {
  return Math.max(1, Math.floor(30_000 / columns));
}

export async function insertChunked(db: Db, table: string, rows: Record<string, unknown>[]): Promise<void> {
  if (rows.length === 0) return;
  const size = chunkFor(Object.keys(rows[0]!).length);
  for (let i = 0; i < rows.length; i += size) await db(table).insert(rows.slice(i, i + size));
}

export async function upsertChunked(
  db: Db,
  table: string,
  rows: Record<string, unknown>[],
  conflict: string[],
): Promise<void> {
  if (rows.length === 0) return;
  const size = chunkFor(Object.keys(rows[0]!).length);
  for (let i = 0; i < rows.length; i += size) {
    await db(table)
      .insert(rows.slice(i, i + size))
      .onConflict(conflict)
      .merge();
  }
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
