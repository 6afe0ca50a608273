/**
 * `ferry run` stopped by SIGTERM while a page of its query runs on PostgreSQL or MariaDB: the real CLI as a
 * child process, reading through a login that may only SELECT. The query sleeps on the server once a `gate`
 * table holds a row; the test waits until the server shows it running, sends SIGTERM, and expects the run
 * to end within seconds as interrupted (exit 4), the query cancelled on the server, and nothing committed
 * past the last batch of the run before.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import mysql from "mysql2/promise";
import pg from "pg";
import { createTestMysqlDatabase, mysqlSkip } from "../support/mysql.ts";
import { createTestDatabase, PG_BASE_URL, pgSkip } from "../support/pg.ts";
import { CLI, childEnv, type CliProject, type CliResult, createCliProject, exited, FERRY_YAML, ferry, shown, TOKEN } from "./project.ts";

const MAPPING = `entity: account
key: account_id
fields:
  account_id: { type: integer }
  name: { type: string }
  updated_at: { type: datetime }
sources:
  erp:
    account_id: id
    name: name
    updated_at: updated_at
`;

const job = (sleep: string) => `source:
  type: sql
  connection: erp
  query: SELECT a.id, a.name, a.updated_at, g.slept FROM accounts a LEFT JOIN (SELECT ${sleep} AS slept FROM gate) g ON 1 = 1
mapping: account
as: erp
mode: cursor
cursor: { column: updated_at }
batch_size: 2
`;

const ferryYaml = (dialect: string) =>
  FERRY_YAML.replace(
    "connections:\n",
    `connections:\n  erp:\n    dialect: ${dialect}\n    url: \${env:ERP_URL}\n    tls: { mode: disable }\n    connect_timeout: 5s\n`,
  );

const env = (url: string) => ({ HUBSPOT_BASE_URL: "http://127.0.0.1:9", HUBSPOT_TOKEN: TOKEN, ERP_URL: url });

/** A database of one dialect, the way the test sees it. */
interface Server {
  /** A login that may only SELECT from the test's tables. */
  readonlyUrl: string;
  /** The same, allowed one connection at a time: it cannot open another to cancel its query. */
  oneConnectionUrl: string;
  /** Runs a statement with every right. */
  admin(sql: string): Promise<void>;
  /** Whether the server is running the job's sleeping query. */
  sleeping(): Promise<boolean>;
  close(): Promise<void>;
}

async function openPostgres(): Promise<Server> {
  const db = await createTestDatabase();
  const role = `ferry_ro_${process.pid}_${randomBytes(4).toString("hex")}`;
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const q = (sql: string) => client.query(sql).then(() => {});
  await q("CREATE TABLE accounts (id integer PRIMARY KEY, name text, updated_at timestamp)");
  await q("CREATE TABLE gate (x integer)");
  await q(`CREATE ROLE "${role}" LOGIN`);
  await q(`GRANT CONNECT ON DATABASE "${db.name}" TO "${role}"`);
  await q(`GRANT USAGE ON SCHEMA public TO "${role}"`);
  await q(`GRANT SELECT ON accounts, gate TO "${role}"`);
  await q(`CREATE ROLE "${role}_1" LOGIN CONNECTION LIMIT 1 IN ROLE "${role}"`);
  const as = (name: string) => {
    const url = new URL(db.url);
    url.username = name;
    return url.toString();
  };
  return {
    readonlyUrl: as(role),
    oneConnectionUrl: as(`${role}_1`),
    admin: q,
    async sleeping() {
      const { rows } = await client.query(
        "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()",
        [db.name],
      );
      return rows.length > 0;
    },
    async close() {
      await q(`DROP OWNED BY "${role}"`).catch(() => {});
      await client.end().catch(() => {});
      await db.drop();
      const admin = new pg.Client({ connectionString: PG_BASE_URL });
      await admin.connect();
      try {
        await admin.query(`DROP ROLE IF EXISTS "${role}_1"`);
        await admin.query(`DROP ROLE IF EXISTS "${role}"`);
      } finally {
        await admin.end();
      }
    },
  };
}

async function openMysql(): Promise<Server> {
  const db = await createTestMysqlDatabase();
  const user = `ferry_ro_${randomBytes(5).toString("hex")}`;
  const conn = await mysql.createConnection({ uri: db.url });
  const q = (sql: string) => conn.query(sql).then(() => {});
  await q("CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(100), updated_at DATETIME)");
  await q("CREATE TABLE gate (x INT)");
  await q(`CREATE USER '${user}'@'%'`);
  await q(`GRANT SELECT ON \`${db.name}\`.* TO '${user}'@'%'`);
  await q(`CREATE USER '${user}_1'@'%' WITH MAX_USER_CONNECTIONS 1`);
  await q(`GRANT SELECT ON \`${db.name}\`.* TO '${user}_1'@'%'`);
  const as = (name: string) => {
    const url = new URL(db.url);
    url.username = name;
    return url.toString();
  };
  return {
    readonlyUrl: as(user),
    oneConnectionUrl: as(`${user}_1`),
    admin: q,
    async sleeping() {
      const [rows] = await conn.query<mysql.RowDataPacket[]>(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE '%SLEEP(30)%' AND ID <> CONNECTION_ID()",
        [db.name],
      );
      return rows.length > 0;
    },
    async close() {
      await q(`DROP USER IF EXISTS '${user}'@'%', '${user}_1'@'%'`).catch(() => {});
      await conn.end().catch(() => {});
      await db.drop();
    },
  };
}

/** `ferry ...args` started as a child process, its output gathered. */
function startFerry(dir: string, args: string[], environment: Record<string, string>) {
  const child = spawn(process.execPath, [CLI, "--config", dir, ...args], {
    cwd: dir,
    env: childEnv(environment),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const done = exited(child, 60_000, `ferry ${args.join(" ")}`);
  done.catch(() => {}); // awaited by the test, or killed when it failed first
  return { child, done, output: (): CliResult => ({ code: child.exitCode, stdout, stderr }) };
}

/**
 * Starts `ferry --json run accounts`, waits until the server runs its sleeping query, sends SIGTERM, and
 * expects the run to end as interrupted (exit 4) within 10 s.
 */
async function interrupt(dir: string, server: Server, url: string) {
  const run = startFerry(dir, ["--json", "run", "accounts", "--no-deliver"], env(url));
  try {
    await waitFor("the page's query running on the server", 30_000, () => server.sleeping(), () =>
      run.child.exitCode === null ? null : `ferry run exited first\n${shown(run.output())}`,
    );
    run.child.kill("SIGTERM");
    const code = await Promise.race([run.done, delay(10_000).then(() => "still running")]);
    assert.notEqual(code, "still running", `ferry run still running 10 s after SIGTERM\n${shown(run.output())}`);
    assert.equal(code, 4, shown(run.output()));
    const out = JSON.parse(run.output().stdout) as { status: string; errorCode: string };
    assert.deepEqual({ status: out.status, errorCode: out.errorCode }, { status: "failed", errorCode: "RUN_INTERRUPTED" });
  } finally {
    if (run.child.exitCode === null) run.child.kill("SIGKILL");
  }
}

/** Polls `check` until it says yes, or fails after `ms` (or as soon as `stop` gives a reason). */
async function waitFor(what: string, ms: number, check: () => Promise<boolean>, stop?: () => string | null) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    const why = stop?.();
    if (why) assert.fail(`${what}: ${why}`);
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await delay(50);
  }
}

const CASES = [
  { dialect: "postgres", title: "PostgreSQL", sleep: "pg_sleep(30)::text", skip: await pgSkip(), open: openPostgres },
  { dialect: "mysql", title: "MariaDB", sleep: "SLEEP(30)", skip: await mysqlSkip(), open: openMysql },
] as const;

describe("ferry run stopped by SIGTERM during a page's query", { concurrency: true }, () => {
  for (const c of CASES) {
    describe(c.title, { skip: c.skip, concurrency: false }, () => {
      let server: Server;
      let project: CliProject;
      before(async () => {
        server = await c.open();
        await server.admin(
          "INSERT INTO accounts VALUES (1, 'Acme', '2024-03-01 10:00:00'), (2, 'Globex', '2024-03-02 10:00:00'), (3, 'Initech', '2024-03-03 10:00:00')",
        );
        project = createCliProject({
          customers: 1,
          files: { "ferry.yaml": ferryYaml(c.dialect), "mappings/account.yaml": MAPPING, "jobs/accounts.yaml": job(c.sleep) },
        });
      });
      after(async () => {
        project?.cleanup();
        await server?.close();
      });

      test("cancels the query, exits 4 within seconds, and commits nothing past the last batch", async () => {
        const first = await ferry(project.dir, ["run", "accounts", "--no-deliver"], env(server.readonlyUrl));
        assert.equal(first.code, 0, shown(first));

        // A row the next run would read, and the gate that makes its query sleep.
        await server.admin("INSERT INTO accounts VALUES (4, 'Umbrella', '2024-03-04 10:00:00')");
        await server.admin("INSERT INTO gate VALUES (1)");
        await interrupt(project.dir, server, server.readonlyUrl);
        // Cancelled on the server, not left to sleep out its 30 s.
        await waitFor("the query cancelled on the server", 5_000, async () => !(await server.sleeping()));

        const state = new Database(project.stateFile, { readonly: true });
        try {
          const checkpoint = state.prepare("SELECT position FROM checkpoints WHERE job = 'accounts'").get() as { position: string };
          assert.deepEqual(JSON.parse(checkpoint.position), { cursor: "2024-03-03 10:00:00", key: 3 }, "the first run's checkpoint stands");
          const keys = state.prepare("SELECT key FROM golden WHERE entity = 'account' ORDER BY key").all() as { key: string }[];
          assert.deepEqual(keys.map((k) => k.key), ["1", "2", "3"], "row 4 was not applied");
          const runs = state.prepare("SELECT status, error FROM runs ORDER BY id").all() as { status: string; error: string }[];
          assert.deepEqual(runs.map((x) => x.status), ["succeeded", "failed"]);
          assert.match(runs[1]!.error, /^RUN_INTERRUPTED/);
        } finally {
          state.close();
        }
      });

      test("a login that cannot open a second connection to cancel: its connection is dropped, exit 4", async () => {
        const p = project.copy();
        try {
          await server.admin("INSERT INTO gate VALUES (2)");
          await interrupt(p.dir, server, server.oneConnectionUrl);
          const state = new Database(p.stateFile, { readonly: true });
          try {
            const counts = state.prepare("SELECT (SELECT count(*) FROM golden) AS golden, (SELECT count(*) FROM checkpoints) AS checkpoints").get();
            assert.deepEqual(counts, { golden: 0, checkpoints: 0 });
          } finally {
            state.close();
          }
        } finally {
          p.cleanup();
        }
      });
    });
  }
});
