/**
 * The state store: the same migrations give SQLite and PostgreSQL the same tables, several processes may
 * open a new state store at once, and a PostgreSQL server that cannot be reached is a transient error that
 * never shows the password.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { inspect } from "node:util";
import type { StateConfig } from "../../src/config/project.schema.ts";
import { describeError, TransientError } from "../../src/errors.ts";
import { migrations } from "../../src/state/migrations.ts";
import { openStateStore, type StateStore } from "../../src/state/store.ts";
import { childEnv, exited } from "../cli/project.ts";
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

const STORE = new URL("../../src/state/store.ts", import.meta.url).href;

/**
 * Opens the state store in `count` processes at once: each loads Ferry, says it is ready, and opens the
 * store when told to go, so that the openings overlap as closely as processes can.
 */
async function openInProcesses(config: StateConfig, dir: string, count: number) {
  const script = `
    import { openStateStore } from ${JSON.stringify(STORE)};
    process.stdout.write("ready\\n");
    process.stdin.once("data", async () => {
      const store = await openStateStore(${JSON.stringify(config)}, ${JSON.stringify(dir)});
      await store.close();
      process.stdout.write("opened\\n");
    });`;
  const children = Array.from({ length: count }, () => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      env: childEnv({}),
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out = { stdout: "", stderr: "" };
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out.stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (out.stderr += s));
    const ready = new Promise<void>((resolve) => {
      child.stdout.on("data", () => out.stdout.includes("ready") && resolve());
    });
    return { child, out, ready, exit: exited(child, 60_000, "a process opening the state store") };
  });
  await Promise.race([
    Promise.all(children.map((c) => c.ready)),
    Promise.all(children.map((c) => c.exit)).then(() => assert.fail("a process ended before it was ready")),
  ]);
  for (const c of children) c.child.stdin.end("go\n");
  const codes = await Promise.all(children.map((c) => c.exit));
  return children.map((c, i) => ({ code: codes[i], ...c.out }));
}

/** Every migration recorded once: none ran twice, none was skipped. */
async function assertMigratedOnce(store: StateStore) {
  const rows = (await store.knex("knex_migrations").select("name")) as { name: string }[];
  assert.deepEqual(rows.map((r) => r.name).sort(), migrations.map((m) => m.name).sort());
}

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

  for (const backend of ["sqlite", "postgres"] as const) {
    it(`a ${backend} state store with run leases of the previous layout keeps them as leases named run:<job>`, { skip: backend === "postgres" ? skipPostgres : false }, async (t) => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "ferry-state-"));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const database = backend === "postgres" ? await createTestDatabase() : undefined;
      if (database) t.after(() => database.drop());
      const config: StateConfig = database ? { url: database.url } : { path: "state.db" };
      // The layout as the previous release left it: every migration up to 0005, a run lease held.
      const old = await openStateStore(config, dir);
      const previous = migrations.slice(0, migrations.findIndex((m) => m.name === "0006_leases"));
      for (const m of [...migrations].reverse()) {
        if (!previous.includes(m)) {
          await m.down(old.knex);
          await old.knex("knex_migrations").where({ name: m.name }).delete();
        }
      }
      const at = "2030-01-01T00:00:00.000Z";
      await old.knex("run_leases").insert({ job: "legacy", holder: "h-1", pid: 4242, host: "w7", acquired_at: at, heartbeat_at: at, expires_at: at });
      await old.close();

      const store = await openStateStore(config, dir);
      t.after(() => store.close());
      await assertMigratedOnce(store);
      const rows = (await store.knex("leases")) as Record<string, unknown>[];
      assert.deepEqual(
        rows.map((r) => ({ ...r, pid: Number(r.pid) })),
        [{ name: "run:legacy", holder: "h-1", worker: "w7:4242", pid: 4242, host: "w7", acquired_at: at, heartbeat_at: at, expires_at: at }],
      );
      assert.equal(await store.knex.schema.hasTable("run_leases"), false);
    });
  }

  for (const backend of ["sqlite", "postgres"] as const) {
    it(`${backend}: the console's migration (0007_console) goes down and up again`, { skip: backend === "postgres" ? skipPostgres : false }, async (t) => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "ferry-state-"));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const database = backend === "postgres" ? await createTestDatabase() : undefined;
      if (database) t.after(() => database.drop());
      const store = await openStateStore(database ? { url: database.url } : { path: "state.db" }, dir);
      t.after(() => store.close());
      const consoleTables = ["users", "sessions", "api_tokens", "login_attempts"];
      const migration = migrations.find((m) => m.name === "0007_console")!;
      await migration.down(store.knex);
      for (const table of consoleTables) assert.equal(await store.knex.schema.hasTable(table), false, `${table} dropped`);
      assert.equal(await store.knex.schema.hasTable("leases"), true, "the tables before it stay");
      await migration.up(store.knex);
      for (const table of consoleTables) assert.equal(await store.knex.schema.hasTable(table), true, `${table} created`);
    });
  }

  describe("opened by several at once, on a new state store", () => {
    for (const backend of ["sqlite", "postgres"] as const) {
      const skip = backend === "postgres" ? skipPostgres : false;
      async function fresh(t: { after(fn: () => unknown): void }): Promise<{ config: StateConfig; dir: string }> {
        const dir = mkdtempSync(path.join(os.tmpdir(), "ferry-state-"));
        t.after(() => rmSync(dir, { recursive: true, force: true }));
        if (backend === "sqlite") return { config: { path: "state.db" }, dir };
        const database = await createTestDatabase();
        t.after(() => database.drop());
        return { config: { url: database.url }, dir };
      }

      it(`${backend}: four processes migrate it once, and none fails`, { skip }, async (t) => {
        const { config, dir } = await fresh(t);
        const results = await openInProcesses(config, dir, 4);
        for (const r of results) assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
        const store = await openStateStore(config, dir);
        t.after(() => store.close());
        await assertMigratedOnce(store);
      });

      it(`${backend}: four openings in one process at once`, { skip }, async (t) => {
        const { config, dir } = await fresh(t);
        const opened = await Promise.allSettled(Array.from({ length: 4 }, () => openStateStore(config, dir)));
        const stores = opened.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
        t.after(() => Promise.all(stores.map((s) => s.close())));
        for (const o of opened) if (o.status === "rejected") throw o.reason;
        await assertMigratedOnce(stores[0]!);
      });
    }
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
