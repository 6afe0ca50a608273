/**
 * The state store: the same migrations give SQLite and PostgreSQL the same tables, and a PostgreSQL server
 * that cannot be reached is a transient error that never shows the password.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { inspect } from "node:util";
import { describeError, TransientError } from "../../src/errors.ts";
import { openStateStore, type StateStore } from "../../src/state/store.ts";
import { createTestDatabase, pgSkip } from "../support/pg.ts";
import { STATE_TABLES } from "../support/project.ts";

interface TableShape {
  columns: string[];
  primaryKey: string[];
}

async function shapeOf(store: StateStore): Promise<Record<string, TableShape>> {
  const out: Record<string, TableShape> = {};
  if (store.dialect === "sqlite") {
    const tables = (await store.knex.raw(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )) as { name: string }[];
    for (const { name } of tables) {
      const info = (await store.knex.raw(`PRAGMA table_info("${name}")`)) as { name: string; pk: number }[];
      out[name] = {
        columns: info.map((c) => c.name).sort(),
        primaryKey: info
          .filter((c) => c.pk > 0)
          .sort((a, b) => a.pk - b.pk)
          .map((c) => c.name),
      };
    }
    return out;
  }
  const columns = (
    await store.knex.raw(
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()",
    )
  ).rows as { table_name: string; column_name: string }[];
  for (const c of columns) {
    out[c.table_name] ??= { columns: [], primaryKey: [] };
    out[c.table_name]!.columns.push(c.column_name);
  }
  const keys = (
    await store.knex.raw(
      `SELECT k.table_name, k.column_name FROM information_schema.table_constraints t
       JOIN information_schema.key_column_usage k
         ON k.constraint_name = t.constraint_name AND k.table_schema = t.table_schema
       WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = current_schema()
       ORDER BY k.table_name, k.ordinal_position`,
    )
  ).rows as { table_name: string; column_name: string }[];
  for (const k of keys) out[k.table_name]!.primaryKey.push(k.column_name);
  for (const shape of Object.values(out)) shape.columns.sort();
  return out;
}

const skipPostgres = await pgSkip();

describe("state store", () => {
  it("migrations create the same tables on SQLite and PostgreSQL", { skip: skipPostgres }, async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "ferry-state-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const sqlite = await openStateStore({ path: "state.db" }, dir);
    t.after(() => sqlite.close());
    const database = await createTestDatabase();
    t.after(() => database.drop());
    const postgres = await openStateStore({ url: database.url }, dir);
    t.after(() => postgres.close());

    const onSqlite = await shapeOf(sqlite);
    const onPostgres = await shapeOf(postgres);
    for (const table of STATE_TABLES) assert.ok(onSqlite[table], `SQLite has ${table}`);
    assert.deepEqual(Object.keys(onPostgres).sort(), Object.keys(onSqlite).sort());
    for (const table of Object.keys(onSqlite)) {
      assert.deepEqual(onPostgres[table], onSqlite[table], `table ${table} has the same shape`);
    }

    // Opening again runs no migration twice.
    const reopened = await openStateStore({ url: database.url }, dir);
    await reopened.close();
  });

  for (const [what, url] of [
    ["in the user info", "postgres://ferry:s3cret-Pa55@127.0.0.1:1/ferry"],
    ["as a query parameter", "postgres://ferry@127.0.0.1:1/ferry?password=s3cret-Pa55&sslmode=disable"],
  ] as const) {
    it(`an unreachable PostgreSQL is STATE_UNAVAILABLE, the password ${what} redacted`, async () => {
      const error = await openStateStore({ url }, os.tmpdir()).then(
        (store) => {
          void store.close();
          assert.fail("opened a state store on a closed port");
        },
        (e: unknown) => e,
      );
      assert.ok(error instanceof TransientError, `a TransientError, got ${inspect(error)}`);
      assert.equal(error.code, "STATE_UNAVAILABLE");
      assert.match(error.message, /127\.0\.0\.1:1/, "the message says where");
      for (const shown of [error.message, describeError(error), JSON.stringify(error), inspect(error)]) {
        assert.ok(!shown.includes("s3cret-Pa55"), `no password in: ${shown}`);
      }
    });
  }
});
