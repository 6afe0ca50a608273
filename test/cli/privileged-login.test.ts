/**
 * A database login that holds more than reading needs (a PostgreSQL superuser, a role that may write server
 * files or signal other sessions, a MariaDB user with FILE or PROCESS): `ferry check` names what it holds,
 * and `ferry run` refuses it before its query runs unless the connection says `allow_privileged_login: true`.
 * Also: a server without TLS under the default `tls.mode` (verify) is named as such. The real CLI as a child
 * process; each suite creates its own database and logins, and drops them.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import mysql from "mysql2/promise";
import pg from "pg";
import { createTestMysqlDatabase, mysqlSkip } from "../support/mysql.ts";
import { createTestDatabase, PG_BASE_URL, pgSkip, type TestDatabase } from "../support/pg.ts";
import { type CliProject, type CliResult, createCliProject, FERRY_YAML, ferry, shown, TOKEN } from "./project.ts";

const MAPPING = `entity: account
key: account_id
fields:
  account_id: { type: integer }
  name: { type: string }
sources:
  erp:
    account_id: id
    name: name
`;

const job = (connection: string, query = "SELECT id, name FROM accounts") =>
  `source:\n  type: sql\n  connection: ${connection}\n  query: ${query}\nmapping: account\nas: erp\n`;

/** `erp`, `erp_allowed` (allow_privileged_login: true) and `erp_tls` (the default tls.mode), all on ${env:ERP_URL}. */
const ferryYaml = (dialect: string) =>
  FERRY_YAML.replace(
    "connections:\n",
    `connections:
  erp:
    dialect: ${dialect}
    url: \${env:ERP_URL}
    tls: { mode: disable }
  erp_allowed:
    dialect: ${dialect}
    url: \${env:ERP_URL}
    tls: { mode: disable }
    allow_privileged_login: true
  erp_tls:
    dialect: ${dialect}
    url: \${env:ERP_URL}
`,
  );

const FILES = {
  "mappings/account.yaml": MAPPING,
  "jobs/accounts.yaml": job("erp"),
  "jobs/accounts_allowed.yaml": job("erp_allowed"),
  "jobs/accounts_tls.yaml": job("erp_tls"),
};

const env = (url: string) => ({ HUBSPOT_BASE_URL: "http://127.0.0.1:9", HUBSPOT_TOKEN: TOKEN, ERP_URL: url });

const REFUSED = "[SOURCE_SQL_PRIVILEGED_LOGIN]";

function warnings(r: CliResult): string[] {
  return (JSON.parse(r.stdout) as { warnings: string[] }).warnings;
}

/** The privileged-login warning of a `ferry --json check`, if any. */
const privileged = (r: CliResult) => warnings(r).find((w) => w.startsWith("the login is privileged"));

/** Rows the project's state store holds of the account entity, and its runs' statuses. */
function stateOf(p: CliProject): { golden: number; runs: string[] } {
  if (!existsSync(p.stateFile)) return { golden: 0, runs: [] };
  const db = new Database(p.stateFile, { readonly: true });
  try {
    const golden = (db.prepare("SELECT count(*) AS n FROM golden").get() as { n: number }).n;
    const runs = (db.prepare("SELECT status FROM runs ORDER BY id").all() as { status: string }[]).map((r) => r.status);
    return { golden, runs };
  } finally {
    db.close();
  }
}

/** Runs `ferry run <job> --no-deliver` on a fresh copy of the project (no state), and what it left. */
async function runCopy(project: CliProject, jobName: string, url: string, files: Record<string, string> = {}) {
  const p = project.copy();
  try {
    for (const [name, text] of Object.entries(files)) p.write(name, text);
    const r = await ferry(p.dir, ["run", jobName, "--no-deliver"], env(url));
    return { r, state: stateOf(p) };
  } finally {
    p.cleanup();
  }
}

function assertRefused(r: CliResult, found: RegExp) {
  assert.equal(r.code, 2, shown(r));
  assert.ok(r.stdout.includes(REFUSED) || r.stderr.includes(REFUSED), shown(r));
  const line = `${r.stdout}\n${r.stderr}`.split("\n").find((l) => l.includes(REFUSED))!;
  assert.match(line, /connections\.erp\b/, "names the connection");
  assert.match(line, found, "says what the login holds");
  assert.match(line, /login that can only SELECT/, "says how to fix it");
  assert.match(line, /allow_privileged_login: true/, "names the setting that accepts the risk");
}

const [pgSkipped, mysqlSkipped] = await Promise.all([pgSkip(), mysqlSkip()]);

describe("privileged database logins", { concurrency: true }, () => {
  describe("on PostgreSQL", { skip: pgSkipped, concurrency: 2 }, () => {
    let db: TestDatabase;
    let client: pg.Client;
    let project: CliProject;
    const suffix = `${process.pid}_${randomBytes(4).toString("hex")}`;
    const roles = { superuser: `ferry_su_${suffix}`, powers: `ferry_pw_${suffix}`, plain: `ferry_ro_${suffix}` };
    const urls = { superuser: "", powers: "", plain: "" };
    before(async () => {
      db = await createTestDatabase();
      client = new pg.Client({ connectionString: db.url });
      await client.connect();
      await client.query("CREATE TABLE accounts (id integer PRIMARY KEY, name text)");
      await client.query("INSERT INTO accounts VALUES (1, 'Acme'), (2, 'Globex'), (3, 'Initech')");
      await client.query(`CREATE ROLE "${roles.superuser}" LOGIN SUPERUSER`);
      await client.query(`CREATE ROLE "${roles.powers}" LOGIN IN ROLE pg_write_server_files, pg_signal_backend`);
      await client.query(`CREATE ROLE "${roles.plain}" LOGIN`);
      for (const role of [roles.powers, roles.plain]) {
        await client.query(`GRANT CONNECT ON DATABASE "${db.name}" TO "${role}"`);
        await client.query(`GRANT USAGE ON SCHEMA public TO "${role}"`);
        await client.query(`GRANT SELECT ON accounts TO "${role}"`);
      }
      for (const [kind, role] of Object.entries(roles)) {
        const url = new URL(db.url);
        url.username = role;
        urls[kind as keyof typeof urls] = url.toString();
      }
      project = createCliProject({ customers: 1, files: { "ferry.yaml": ferryYaml("postgres"), ...FILES } });
    });
    after(async () => {
      project?.cleanup();
      if (!db) return;
      for (const role of Object.values(roles)) await client?.query(`DROP OWNED BY "${role}"`).catch(() => {});
      await client?.end().catch(() => {});
      await db.drop();
      const admin = new pg.Client({ connectionString: PG_BASE_URL });
      await admin.connect();
      try {
        for (const role of Object.values(roles)) await admin.query(`DROP ROLE IF EXISTS "${role}"`);
      } finally {
        await admin.end();
      }
    });

    test("ferry check names a superuser login, and what run does about it; exit 1", async () => {
      const r = await ferry(project.dir, ["--json", "check", "accounts"], env(urls.superuser));
      assert.equal(r.code, 1, shown(r));
      const warning = privileged(r);
      assert.ok(warning, shown(r));
      assert.match(warning, /\bsuperuser\b/);
      assert.match(warning, /ferry run refuses it/);
      assert.match(warning, /allow_privileged_login: true/);
    });

    test("ferry check names the roles that reach past the tables: server files, other sessions", async () => {
      const r = await ferry(project.dir, ["--json", "check", "accounts"], env(urls.powers));
      assert.equal(r.code, 1, shown(r));
      const warning = privileged(r) ?? "";
      assert.match(warning, /member of pg_signal_backend/, shown(r));
      assert.match(warning, /member of pg_write_server_files/, shown(r));
      assert.doesNotMatch(warning, /superuser/);
    });

    test("ferry check on a SELECT-only login: no warning, exit 0", async () => {
      const r = await ferry(project.dir, ["--json", "check", "accounts"], env(urls.plain));
      assert.equal(r.code, 0, shown(r));
      assert.deepEqual(warnings(r), []);
    });

    test("ferry run refuses a superuser before its query runs: the session it would end lives on", async () => {
      const victim = new pg.Client({ connectionString: db.url });
      victim.on("error", () => {}); // ended by the query, were it to run: the assertion below says so
      await victim.connect();
      try {
        const pid = (await victim.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
        const query = `SELECT id, name, pg_terminate_backend(${pid}) AS ended FROM accounts`;
        const { r, state } = await runCopy(project, "accounts", urls.superuser, { "jobs/accounts.yaml": job("erp", query) });
        assertRefused(r, /superuser/);
        assert.deepEqual(state, { golden: 0, runs: ["failed"] });
        assert.deepEqual((await victim.query("SELECT 1 AS alive")).rows, [{ alive: 1 }]);
      } finally {
        await victim.end().catch(() => {});
      }
    });

    test("ferry run refuses a login that may signal other sessions and write server files", async () => {
      const { r, state } = await runCopy(project, "accounts", urls.powers);
      assertRefused(r, /member of pg_signal_backend, member of pg_write_server_files/);
      assert.equal(state.golden, 0);
    });

    test("allow_privileged_login: true lets the superuser read, with a warning in the log", async () => {
      const { r, state } = await runCopy(project, "accounts_allowed", urls.superuser);
      assert.equal(r.code, 0, shown(r));
      assert.match(r.stderr, /privileged login allowed.*superuser/, shown(r));
      assert.deepEqual(state, { golden: 3, runs: ["succeeded"] });
    });

    test("a SELECT-only login runs", async () => {
      const { r, state } = await runCopy(project, "accounts", urls.plain);
      assert.equal(r.code, 0, shown(r));
      assert.doesNotMatch(r.stderr, /privileged/);
      assert.deepEqual(state, { golden: 3, runs: ["succeeded"] });
    });

    test("a server without TLS under the default tls.mode: says so and how to set tls.mode; exit 2", async () => {
      const { r } = await runCopy(project, "accounts_tls", urls.plain);
      assert.equal(r.code, 2, shown(r));
      assert.match(r.stdout, /does not offer TLS/, shown(r));
      assert.match(r.stdout, /tls\.mode: disable/, shown(r));
      assert.match(r.stdout, /\[SOURCE_SQL_TLS_UNAVAILABLE\]/, shown(r));
      assert.doesNotMatch(r.stdout, /Check the job's query/, shown(r));
    });
  });

  describe("on MariaDB", { skip: mysqlSkipped, concurrency: 2 }, () => {
    let db: TestDatabase;
    let conn: mysql.Connection;
    let project: CliProject;
    const suffix = randomBytes(5).toString("hex");
    const users = { powers: `ferry_pw_${suffix}`, plain: `ferry_ro_${suffix}` };
    const urls = { powers: "", plain: "" };
    before(async () => {
      db = await createTestMysqlDatabase();
      conn = await mysql.createConnection({ uri: db.url });
      await conn.query("CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(100))");
      await conn.query("INSERT INTO accounts VALUES (1, 'Acme'), (2, 'Globex'), (3, 'Initech')");
      for (const [kind, user] of Object.entries(users)) {
        await conn.query(`CREATE USER '${user}'@'%'`);
        await conn.query(`GRANT SELECT ON \`${db.name}\`.accounts TO '${user}'@'%'`);
        const url = new URL(db.url);
        url.username = user;
        urls[kind as keyof typeof urls] = url.toString();
      }
      await conn.query(`GRANT FILE, PROCESS ON *.* TO '${users.powers}'@'%'`);
      project = createCliProject({ customers: 1, files: { "ferry.yaml": ferryYaml("mysql"), ...FILES } });
    });
    after(async () => {
      project?.cleanup();
      await conn?.query(`DROP USER IF EXISTS '${users.powers}'@'%', '${users.plain}'@'%'`).catch(() => {});
      await conn?.end().catch(() => {});
      await db?.drop();
    });

    test("ferry check names FILE and PROCESS; exit 1", async () => {
      const r = await ferry(project.dir, ["--json", "check", "accounts"], env(urls.powers));
      assert.equal(r.code, 1, shown(r));
      const warning = privileged(r) ?? "";
      assert.match(warning, /\bFILE\b/, shown(r));
      assert.match(warning, /\bPROCESS\b/, shown(r));
    });

    test("ferry check on root names ALL PRIVILEGES", async () => {
      const r = await ferry(project.dir, ["--json", "check", "accounts"], env(db.url));
      assert.equal(r.code, 1, shown(r));
      assert.match(privileged(r) ?? "", /ALL PRIVILEGES/, shown(r));
    });

    test("ferry run refuses a user with FILE and PROCESS; allow_privileged_login: true lets it read", async () => {
      const refused = await runCopy(project, "accounts", urls.powers);
      assertRefused(refused.r, /FILE, PROCESS|PROCESS, FILE/);
      assert.equal(refused.state.golden, 0);

      const allowed = await runCopy(project, "accounts_allowed", urls.powers);
      assert.equal(allowed.r.code, 0, shown(allowed.r));
      assert.deepEqual(allowed.state, { golden: 3, runs: ["succeeded"] });
    });

    test("a SELECT-only user: check without warning, run reads", async () => {
      const r = await ferry(project.dir, ["--json", "check", "accounts"], env(urls.plain));
      assert.equal(r.code, 0, shown(r));
      assert.deepEqual(warnings(r), []);
      const { r: run, state } = await runCopy(project, "accounts", urls.plain);
      assert.equal(run.code, 0, shown(run));
      assert.equal(state.golden, 3);
    });

    test("a server without TLS under the default tls.mode: says so and how to set tls.mode; exit 2", async () => {
      const { r } = await runCopy(project, "accounts_tls", urls.plain);
      assert.equal(r.code, 2, shown(r));
      assert.match(r.stdout, /does not offer TLS/, shown(r));
      assert.match(r.stdout, /\[SOURCE_SQL_TLS_UNAVAILABLE\]/, shown(r));
    });
  });
});
