/**
 * The `sql` source on live PostgreSQL, MariaDB and SQLite, each holding the Chinook sample database
 * (customers, invoices), end to end: runJob reads through a connection declared in ferry.yaml, the state
 * store keeps what was read, and the HubSpot emulator receives it. Every scenario runs on all three
 * dialects, from the table of per-dialect parameters below; each test creates its own database, loads
 * Chinook into it and drops it afterwards.
 *
 * Queries alias Chinook's columns (snake_case in PostgreSQL, PascalCase elsewhere) to one set of names, so
 * one mapping per entity serves every dialect.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { describe, it, type TestContext } from "node:test";
import Database from "better-sqlite3";
import mysql from "mysql2/promise";
import pg from "pg";
import { parse } from "yaml";
import { ConfigError, TransientError } from "../../src/errors.ts";
import { explain } from "../../src/operate/explain.ts";
import type { RunResult } from "../../src/runner/run-job.ts";
import { getGolden } from "../../src/state/golden.repo.ts";
import {
  CHINOOK_COUNTS,
  CHINOOK_CUSTOMER_1,
  CHINOOK_NAMES,
  type ChinookDialect,
  type ChinookNames,
  chinookSkip,
  loadChinookMysql,
  loadChinookPostgres,
  loadChinookSqlite,
} from "../support/chinook.ts";
import { createTestMysqlDatabase, mysqlSkip } from "../support/mysql.ts";
import { createTestDatabase, pgSkip } from "../support/pg.ts";
import { assertStatus, createTestProject, stateRows, type TestProject } from "../support/project.ts";

// ---------------------------------------------------------------------------------------------------------
// The legacy database of one test, and what differs between dialects

/** A Chinook database of one test, reached by Ferry through `connection()` and by the test through `sql`. */
interface Legacy {
  /** An entry of ferry.yaml's `connections:` for this database; `extra` adds or replaces fields. */
  connection(extra?: Record<string, unknown>): Record<string, unknown>;
  /** Runs one statement outside Ferry, with every right; the rows it returns (none for a write). */
  sql(statement: string): Promise<Record<string, unknown>[]>;
  /** Closes the test's own session and drops the database. */
  close(): Promise<void>;
}

/** A server that does not answer may come back: retry. A missing database file is the configuration's to fix. */
interface Unreachable {
  kind: typeof TransientError | typeof ConfigError;
  code?: string;
  /** What the message must name for the user to act: the connection, or the file. */
  names: string;
}

interface DialectCase {
  dialect: ChinookDialect;
  title: string;
  /** The `skip` option of the dialect's suite: the Chinook scripts or the server missing. */
  skip(): Promise<string | false>;
  /** A fresh database holding Chinook. */
  open(): Promise<Legacy>;
  /**
   * A connection to a database that is not there (a port nothing listens on; for SQLite a file that does not
   * exist), and what a run on it must fail with.
   */
  unreachable(port: number): { connection: Record<string, unknown>; fails: Unreachable };
  /** A FROM-clause item that takes 3 s to yield its single row, or why the dialect has no such thing. */
  slowJoin: string | { none: string };
  /** A sequence and the expression that advances it, or why the dialect has no write a SELECT can make. */
  sequence: { create: string; next: string } | { none: string };
  /** The database's own words for a column a statement names but its FROM lacks. */
  unknownColumn(column: string): RegExp;
  /**
   * A column type for instants (a date-time with a zone, or stored as UTC), and the SQL literal of the
   * instant `utc` ("2026-03-01 08:00:00", UTC) in it.
   */
  zoned: { type: string; at(utc: string): string };
  /** What makes Chinook's invoice date hold microseconds, when its type does not already. */
  microseconds?: string;
}

/**
 * Settings every server connection of these tests shares: the local servers have no TLS, and the tests
 * read as the servers' admin logins (PostgreSQL's superuser, MariaDB's root), which a run refuses unless
 * the connection allows them.
 */
const SERVER = {
  tls: { mode: "disable" },
  pool: { max: 2 },
  connect_timeout: "5s",
  query_timeout: "30s",
  allow_privileged_login: true,
};

/**
 * ferry.yaml cannot hold a literal password, so a server's URL reaches it through an environment variable
 * of its own (read when the test project is created), which also keeps tests on different servers apart.
 */
function urlVariable(url: string): { name: string; release(): void } {
  const name = `FERRY_IT_SQL_URL_${randomBytes(5).toString("hex").toUpperCase()}`;
  process.env[name] = url;
  return { name, release: () => delete process.env[name] };
}

async function openPostgres(): Promise<Legacy> {
  const db = await createTestDatabase();
  const variable = urlVariable(db.url);
  const client = new pg.Client({ connectionString: db.url });
  try {
    await loadChinookPostgres(db.url);
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    await db.drop();
    variable.release();
    throw e;
  }
  return {
    connection: (extra = {}) => ({ dialect: "postgres", url: `\${env:${variable.name}}`, ...SERVER, ...extra }),
    sql: async (statement) => (await client.query<Record<string, unknown>>(statement)).rows ?? [],
    async close() {
      variable.release();
      await client.end().catch(() => {});
      await db.drop();
    },
  };
}

async function openMysql(): Promise<Legacy> {
  const db = await createTestMysqlDatabase();
  const variable = urlVariable(db.url);
  let conn: mysql.Connection | undefined;
  try {
    await loadChinookMysql(db.url);
    conn = await mysql.createConnection({ uri: db.url });
    // TIMESTAMP literals the tests write are UTC, as Ferry's sessions read them.
    await conn.query("SET time_zone = '+00:00'");
  } catch (e) {
    await conn?.end().catch(() => {});
    await db.drop();
    variable.release();
    throw e;
  }
  const session = conn;
  return {
    connection: (extra = {}) => ({ dialect: "mysql", url: `\${env:${variable.name}}`, ...SERVER, ...extra }),
    async sql(statement) {
      const [rows] = await session.query(statement);
      return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
    },
    async close() {
      variable.release();
      await session.end().catch(() => {});
      await db.drop();
    },
  };
}

async function openSqlite(): Promise<Legacy> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "ferry-chinook-"));
  const file = path.join(dir, "chinook.db");
  let db: Database.Database;
  try {
    loadChinookSqlite(file);
    db = new Database(file);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    connection: (extra = {}) => ({ dialect: "sqlite", path: file, ...extra }),
    sql(statement) {
      const prepared = db.prepare(statement);
      if (prepared.reader) return Promise.resolve(prepared.all() as Record<string, unknown>[]);
      prepared.run();
      return Promise.resolve([]);
    },
    close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

const DIALECTS: readonly DialectCase[] = [
  {
    dialect: "postgres",
    title: "PostgreSQL",
    skip: async () => chinookSkip() || (await pgSkip()),
    open: openPostgres,
    unreachable: (port) => ({
      connection: { dialect: "postgres", url: `postgres://ferry@127.0.0.1:${port}/chinook`, ...SERVER },
      fails: { kind: TransientError, code: "SOURCE_UNAVAILABLE", names: "nowhere" },
    }),
    slowJoin: "CROSS JOIN (SELECT pg_sleep(3)) AS slow",
    sequence: { create: "CREATE SEQUENCE ferry_probe", next: "nextval('ferry_probe')" },
    unknownColumn: (column) => new RegExp(`column "${column}" does not exist`),
    zoned: { type: "timestamptz", at: (utc) => `'${utc}+00'` },
  },
  {
    dialect: "mysql",
    title: "MariaDB",
    skip: async () => chinookSkip() || (await mysqlSkip()),
    open: openMysql,
    unreachable: (port) => ({
      connection: { dialect: "mysql", url: `mysql://ferry@127.0.0.1:${port}/chinook`, ...SERVER },
      fails: { kind: TransientError, code: "SOURCE_UNAVAILABLE", names: "nowhere" },
    }),
    slowJoin: "CROSS JOIN (SELECT SLEEP(3) AS slept) AS slow",
    sequence: { create: "CREATE SEQUENCE ferry_probe", next: "NEXTVAL(ferry_probe)" },
    unknownColumn: (column) => new RegExp(`Unknown column '${column}'`),
    // TIMESTAMP holds an instant; the test's session is in UTC (see openMysql).
    zoned: { type: "TIMESTAMP NULL", at: (utc) => `'${utc}'` },
    microseconds: "ALTER TABLE Invoice MODIFY InvoiceDate DATETIME(6) NOT NULL",
  },
  {
    dialect: "sqlite",
    title: "SQLite",
    skip: () => Promise.resolve(chinookSkip()),
    open: openSqlite,
    unreachable: () => {
      const file = path.join(os.tmpdir(), `ferry-missing-${randomBytes(5).toString("hex")}`, "chinook.db");
      return { connection: { dialect: "sqlite", path: file }, fails: { kind: ConfigError, names: file } };
    },
    slowJoin: { none: "SQLite has no sleep function, and its connections no query_timeout" },
    sequence: {
      none: "SQLite has no SELECT that writes (no sequences, no functions with side effects); the file is opened read-only",
    },
    unknownColumn: (column) => new RegExp(`no such column: "?${column}`),
    // SQLite has no date type: instants are ISO 8601 text in UTC.
    zoned: { type: "TEXT", at: (utc) => `'${utc.replace(" ", "T")}Z'` },
  },
];

// ---------------------------------------------------------------------------------------------------------
// Queries, mappings and jobs

/** Customers with their largest invoice total (a decimal) and first invoice date (a date-time without zone). */
function customerQuery(
  n: ChinookNames,
  options: { join?: string; where?: string; email?: string; extra?: string } = {},
): string {
  const c = n.customer;
  const i = n.invoice;
  return [
    `SELECT c.${c.id} AS customer_id, c.${c.firstName} AS first_name, c.${c.lastName} AS last_name,`,
    `  ${options.email ?? `c.${c.email}`} AS email, c.${c.country} AS country,`,
    `  (SELECT MAX(i.${i.total}) FROM ${i.table} i WHERE i.${i.customerId} = c.${c.id}) AS max_total,`,
    `  (SELECT MIN(i.${i.invoiceDate}) FROM ${i.table} i WHERE i.${i.customerId} = c.${c.id}) AS first_invoice_at${options.extra ? `,\n  ${options.extra}` : ""}`,
    `FROM ${c.table} c${options.join ? ` ${options.join}` : ""}${options.where ? ` WHERE ${options.where}` : ""}`,
  ].join("\n");
}

function invoiceQuery(n: ChinookNames, options: { where?: string; extra?: string } = {}): string {
  const i = n.invoice;
  return `SELECT ${i.id} AS invoice_id, ${i.customerId} AS customer_id, ${i.invoiceDate} AS invoice_date,
  ${i.billingCountry} AS billing_country, ${i.total} AS total${options.extra ? `, ${options.extra}` : ""}
FROM ${i.table}${options.where ? ` WHERE ${options.where}` : ""}`;
}

/** A new invoice of customer 2, as a legacy application would write it. */
function insertInvoice(n: ChinookNames, id: number, at: string, total = "9.99"): string {
  const i = n.invoice;
  return `INSERT INTO ${i.table} (${i.id}, ${i.customerId}, ${i.invoiceDate}, ${i.billingAddress}, ${i.billingCity},
  ${i.billingCountry}, ${i.billingPostalCode}, ${i.total})
VALUES (${id}, 2, '${at}', 'Theodor-Heuss-Straße 34', 'Stuttgart', 'Germany', '70174', ${total})`;
}

function updateInvoices(n: ChinookNames, where: string, at: string, total?: string): string {
  const i = n.invoice;
  return `UPDATE ${i.table} SET ${i.invoiceDate} = '${at}'${total ? `, ${i.total} = ${total}` : ""} WHERE ${where}`;
}

const CUSTOMER_MAPPING = {
  entity: "customer",
  key: "customer_no",
  fields: {
    customer_no: { type: "string" },
    first_name: { type: "string" },
    last_name: { type: "string" },
    email: { type: "email" },
    country: { type: "string" },
    max_total: { type: "decimal" },
    first_invoice_at: { type: "datetime" },
  },
  sources: {
    erp: {
      customer_no: "customer_id",
      first_name: "first_name",
      last_name: "last_name",
      email: "email",
      country: "country",
      max_total: "max_total",
      first_invoice_at: "first_invoice_at",
    },
  },
  destinations: {
    hubspot: {
      object: "contacts",
      match: { property: "customer_no" },
      fields: {
        customer_no: "customer_no",
        first_name: "firstname",
        last_name: "lastname",
        email: "email",
        country: "country",
        max_total: "max_invoice_total",
        first_invoice_at: "first_invoice_at",
      },
    },
  },
};

const INVOICE_MAPPING = {
  entity: "invoice",
  key: "invoice_no",
  fields: {
    invoice_no: { type: "string" },
    customer_no: { type: "string" },
    invoiced_at: { type: "datetime" },
    billing_country: { type: "string" },
    total: { type: "decimal" },
  },
  sources: {
    erp: {
      invoice_no: "invoice_id",
      customer_no: "customer_id",
      invoiced_at: "invoice_date",
      billing_country: "billing_country",
      total: "total",
    },
  },
  destinations: {
    hubspot: {
      object: "deals",
      match: { property: "invoice_no" },
      fields: {
        invoice_no: "invoice_no",
        customer_no: "customer_no",
        invoiced_at: "invoiced_at",
        billing_country: "billing_country",
        total: "amount",
      },
    },
  },
};

function snapshotJob(mapping: "customer" | "invoice", query: string, overrides: Record<string, unknown> = {}) {
  const { source, ...rest } = overrides;
  return {
    source: { type: "sql", connection: "erp", query, ...(source as object | undefined) },
    mapping,
    as: "erp",
    mode: "snapshot",
    batch_size: 25,
    deletes: { policy: "propagate" },
    ...rest,
  };
}

function cursorJob(query: string, overrides: Record<string, unknown> = {}) {
  const { source, cursor, ...rest } = overrides;
  return {
    source: { type: "sql", connection: "erp", query, ...(source as object | undefined) },
    mapping: "invoice",
    as: "erp",
    mode: "cursor",
    cursor: { column: "invoice_date", ...(cursor as object | undefined) },
    batch_size: 100,
    ...rest,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Test harness

interface Setup {
  p: TestProject;
  legacy: Legacy;
}

interface SetupOptions {
  jobs: Record<string, object>;
  /** Connections besides `erp` (the test's database), built from it. */
  connections?: (legacy: Legacy) => Record<string, Record<string, unknown>>;
}

/**
 * A Chinook database of this dialect and a Ferry project reading it as connection `erp`, the state on
 * SQLite (the state store's backends are covered elsewhere), both removed after the test.
 */
async function setup(t: TestContext, d: DialectCase, options: SetupOptions): Promise<Setup> {
  const legacy = await d.open();
  t.after(() => legacy.close());
  const p = await createTestProject({
    backend: "sqlite",
    mappings: { customer: CUSTOMER_MAPPING, invoice: INVOICE_MAPPING },
    jobs: {},
    emulator: { uniqueProperties: { contacts: ["customer_no"], deals: ["invoice_no"] } },
  });
  t.after(() => p.cleanup());
  // The project was created with the `legacy` connection only: jobs can name `erp` once it is declared.
  const project = parse(readFileSync(path.join(p.dir, "ferry.yaml"), "utf8")) as Record<string, unknown>;
  project.connections = { erp: legacy.connection(), ...options.connections?.(legacy) };
  p.writeFile("ferry.yaml", project);
  for (const [name, job] of Object.entries(options.jobs)) p.writeFile(`jobs/${name}.yaml`, job);
  p.reload();
  return { p, legacy };
}

const counts = (r: RunResult) => ({
  read: r.counts.read,
  unchanged: r.counts.unchanged,
  changed: r.counts.changed,
  rejected: r.counts.rejected,
  deleted: r.counts.deleted,
});

/** A golden record's field values, or undefined when Ferry holds no such record. */
async function golden(p: TestProject, entity: string, key: string): Promise<Record<string, unknown> | undefined> {
  const record = await getGolden(p.store.knex, entity, key);
  if (!record) return undefined;
  return Object.fromEntries(Object.entries(record.fields).map(([name, f]) => [name, f.value]));
}

async function checkpoint(p: TestProject, job: string): Promise<{ cursor: unknown; key: unknown }> {
  const [row] = await stateRows<{ position: string }>(p.store, "checkpoints", { job });
  assert.ok(row, `job ${job} has a checkpoint`);
  const { cursor, key } = JSON.parse(row.position) as { cursor: unknown; key: unknown };
  return { cursor, key: String(key) };
}

/** Neither records nor a checkpoint were written. */
async function assertNothingApplied(p: TestProject) {
  const c = await p.tableCounts();
  assert.deepEqual(
    { snapshots: c.snapshots, golden: c.golden, outbox: c.outbox, checkpoints: c.checkpoints },
    { snapshots: 0, golden: 0, outbox: 0, checkpoints: 0 },
  );
}

type CodedError = Error & { code?: string };

/**
 * The error a job stopped with: a failed run's, or the ConfigError runJob throws when the source refuses
 * its configuration before a run starts (a query that is not read-only is refused there).
 */
async function failure(p: TestProject, job: string): Promise<CodedError> {
  let result: RunResult;
  try {
    result = await p.run(job);
  } catch (e) {
    return e as CodedError;
  }
  assertStatus(result, "failed");
  assert.ok(result.error, "a failed run carries its error");
  return result.error as CodedError;
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound by the system, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const numbers = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => String(from + k));
const byKey = (a: string, b: string) => Number(a) - Number(b);

// ---------------------------------------------------------------------------------------------------------
// Scenarios

const INVOICES = CHINOOK_COUNTS.invoices;
const CUSTOMERS = CHINOOK_COUNTS.customers;
/** The last invoice of Chinook: the checkpoint after a first cursor run. */
const LAST_INVOICE = { cursor: "2025-12-22 00:00:00", key: "412" };

for (const d of DIALECTS) {
  const n = CHINOOK_NAMES[d.dialect];
  const c = n.customer;
  const i = n.invoice;

  describe(`sql source on ${d.title} (Chinook)`, { skip: await d.skip() }, () => {
    it("reads a full snapshot of the customers, canonical, then finds nothing changed", async (t) => {
      const { p } = await setup(t, d, { jobs: { customers: snapshotJob("customer", customerQuery(n)) } });
      const first = await p.run("customers");
      assertStatus(first);
      assert.deepEqual(counts(first), { read: CUSTOMERS, unchanged: 0, changed: CUSTOMERS, rejected: 0, deleted: 0 });

      const tally = await p.deliver();
      assert.equal(tally.created, CUSTOMERS);
      assert.equal(p.emulator.records("contacts").length, CUSTOMERS);
      const luis = p.emulator.findBy("contacts", "customer_no", "1")?.properties ?? {};
      assert.deepEqual(
        {
          firstname: luis.firstname,
          lastname: luis.lastname,
          email: luis.email,
          max_invoice_total: luis.max_invoice_total,
          first_invoice_at: luis.first_invoice_at,
        },
        {
          firstname: CHINOOK_CUSTOMER_1.firstName,
          lastname: CHINOOK_CUSTOMER_1.lastName,
          email: CHINOOK_CUSTOMER_1.email,
          max_invoice_total: "13.86",
          first_invoice_at: "2022-03-11T00:00:00.000Z",
        },
      );
      // What the source said, as `ferry explain` shows it: exact decimal text, the date-time in UTC.
      const why = await explain(p.store, "customer", "2");
      assert.deepEqual(why?.sources.map((s) => s.values), [
        {
          customer_no: "2",
          first_name: "Leonie",
          last_name: "Köhler",
          email: "leonekohler@surfeu.de",
          country: "Germany",
          max_total: "13.86",
          first_invoice_at: "2021-01-01T00:00:00.000Z",
        },
      ]);

      const second = await p.run("customers");
      assertStatus(second);
      assert.deepEqual(counts(second), { read: CUSTOMERS, unchanged: CUSTOMERS, changed: 0, rejected: 0, deleted: 0 });
      const requests = p.emulator.requests.length;
      assert.equal((await p.deliver()).delivered, 0);
      assert.equal(p.emulator.requests.length, requests, "an unchanged run sends nothing");
    });

    it("reads only rows past the checkpoint, plus the lookback overlap, which changes nothing", async (t) => {
      const { p, legacy } = await setup(t, d, {
        jobs: { invoices: cursorJob(invoiceQuery(n), { cursor: { lookback: "1d" } }) },
      });
      const first = await p.run("invoices");
      assertStatus(first);
      assert.deepEqual(counts(first), { read: INVOICES, unchanged: 0, changed: INVOICES, rejected: 0, deleted: 0 });
      assert.deepEqual(await checkpoint(p, "invoices"), LAST_INVOICE);
      assert.equal((await p.deliver()).created, INVOICES);

      await legacy.sql(updateInvoices(n, `${i.id} IN (1, 2)`, "2026-01-05 09:00:00"));
      await legacy.sql(updateInvoices(n, `${i.id} = 3`, "2026-01-05 10:00:00", "7.70"));
      const second = await p.run("invoices");
      assertStatus(second);
      // From the checkpoint minus one day: invoice 412 again, unchanged, and the three updated invoices.
      assert.deepEqual(counts(second), { read: 4, unchanged: 1, changed: 3, rejected: 0, deleted: 0 });
      assert.deepEqual(await checkpoint(p, "invoices"), { cursor: "2026-01-05 10:00:00", key: "3" });

      const tally = await p.deliver();
      assert.deepEqual({ created: tally.created, updated: tally.updated }, { created: 0, updated: 3 });
      const three = p.emulator.findBy("deals", "invoice_no", "3")?.properties ?? {};
      assert.deepEqual(
        { invoiced_at: three.invoiced_at, amount: three.amount },
        { invoiced_at: "2026-01-05T10:00:00.000Z", amount: "7.7" },
      );

      const third = await p.run("invoices");
      assertStatus(third);
      assert.deepEqual(counts(third), { read: 3, unchanged: 3, changed: 0, rejected: 0, deleted: 0 });
    });

    it("reports customers gone from a snapshot as deleted, and refuses to delete more than 20%", async (t) => {
      const { p, legacy } = await setup(t, d, {
        jobs: { customers: snapshotJob("customer", "SELECT * FROM customer_copy") },
      });
      // A copy keeps the deletes clear of Chinook's foreign keys (invoices reference customers).
      await legacy.sql(`CREATE TABLE customer_copy AS ${customerQuery(n)}`);
      assertStatus(await p.run("customers"));
      assert.equal((await p.deliver()).created, CUSTOMERS);

      await legacy.sql("DELETE FROM customer_copy WHERE customer_id IN (10, 20)");
      const second = await p.run("customers");
      assertStatus(second);
      assert.deepEqual(counts(second), { read: 57, unchanged: 57, changed: 0, rejected: 0, deleted: 2 });
      assert.equal((await getGolden(p.store.knex, "customer", "10"))?.status, "deleted");
      assert.equal((await p.deliver()).deleted, 2);
      const archived = () => p.emulator.archived("contacts").map((r) => String(r.properties.customer_no)).sort(byKey);
      assert.deepEqual(archived(), ["10", "20"]);

      // 12 of the 57 left is 21%: more than the job's limit of 20%.
      await legacy.sql("DELETE FROM customer_copy WHERE customer_id BETWEEN 21 AND 32");
      const refused = await p.run("customers");
      assertStatus(refused, "refused");
      assert.equal((refused.error as CodedError | undefined)?.code, "MASS_DELETE_REFUSED");
      assert.equal((await p.deliver()).deleted, 0);
      assert.deepEqual(archived(), ["10", "20"], "nothing more was archived");
      assert.equal(p.emulator.records("contacts").length, 57);

      const allowed = await p.run("customers", { allowMassDelete: true });
      assertStatus(allowed);
      assert.equal(allowed.counts.deleted, 12);
      assert.equal((await p.deliver()).deleted, 12);
      assert.deepEqual(archived(), ["10", "20", ...numbers(21, 32)]);
    });

    it("skips none of many rows sharing a cursor value across pages, and takes rows later written at the checkpoint's value", async (t) => {
      const { p, legacy } = await setup(t, d, {
        jobs: { invoices: cursorJob(invoiceQuery(n), { batch_size: 3, source: { fetch_size: 5 } }) },
      });
      // Two runs of equal values, each longer than a page of 5 and a batch of 3; the second is the last.
      await legacy.sql(updateInvoices(n, `${i.id} BETWEEN 101 AND 112`, "2026-02-01 00:00:00"));
      await legacy.sql(updateInvoices(n, `${i.id} BETWEEN 201 AND 213`, "2026-02-02 00:00:00"));
      const first = await p.run("invoices");
      assertStatus(first);
      assert.deepEqual(counts(first), { read: INVOICES, unchanged: 0, changed: INVOICES, rejected: 0, deleted: 0 });
      const keys = (await stateRows<{ key: string }>(p.store, "golden", { entity: "invoice" })).map((r) => r.key);
      assert.deepEqual(keys.sort(byKey), numbers(1, INVOICES), "every invoice was read");
      assert.deepEqual(await checkpoint(p, "invoices"), { cursor: "2026-02-02 00:00:00", key: "213" });

      // Without a lookback the next run starts at the checkpoint's value itself, inclusive.
      const again = await p.run("invoices");
      assertStatus(again);
      assert.deepEqual(counts(again), { read: 13, unchanged: 13, changed: 0, rejected: 0, deleted: 0 });

      // Written after the run with the checkpoint's cursor value: one with a higher key, one with a lower.
      await legacy.sql(insertInvoice(n, 1001, "2026-02-02 00:00:00"));
      await legacy.sql(updateInvoices(n, `${i.id} = 5`, "2026-02-02 00:00:00", "99.99"));
      const third = await p.run("invoices");
      assertStatus(third);
      assert.deepEqual(counts(third), { read: 15, unchanged: 13, changed: 2, rejected: 0, deleted: 0 });
      assert.deepEqual(await golden(p, "invoice", "1001"), {
        invoice_no: "1001",
        customer_no: "2",
        invoiced_at: "2026-02-02T00:00:00.000Z",
        billing_country: "Germany",
        total: "9.99",
      });
      assert.equal((await golden(p, "invoice", "5"))?.total, "99.99");
      assert.deepEqual(await checkpoint(p, "invoices"), { cursor: "2026-02-02 00:00:00", key: "1001" });
    });

    it("picks up a row committed late inside the lookback window; one older than the window is missed", async (t) => {
      const { p, legacy } = await setup(t, d, {
        jobs: {
          invoices: cursorJob(invoiceQuery(n), { cursor: { lookback: "1d" } }),
          "invoices-full": snapshotJob("invoice", invoiceQuery(n)),
        },
      });
      assertStatus(await p.run("invoices"));
      assert.deepEqual(await checkpoint(p, "invoices"), LAST_INVOICE);

      // Committed after that run, with cursor values before its checkpoint (2025-12-22 00:00).
      await legacy.sql(insertInvoice(n, 1002, "2025-12-21 12:00:00")); // 12 h before: inside the 1 day
      await legacy.sql(insertInvoice(n, 1003, "2025-12-20 12:00:00")); // 36 h before: outside
      const second = await p.run("invoices");
      assertStatus(second);
      assert.deepEqual(counts(second), { read: 2, unchanged: 1, changed: 1, rejected: 0, deleted: 0 });
      assert.equal((await golden(p, "invoice", "1002"))?.invoiced_at, "2025-12-21T12:00:00.000Z");
      assert.equal(await golden(p, "invoice", "1003"), undefined, "a row committed late, older than the lookback window, is missed");
      assert.deepEqual(await checkpoint(p, "invoices"), LAST_INVOICE);

      // What the lookback cannot catch, a full read does.
      const full = await p.run("invoices-full");
      assertStatus(full);
      assert.deepEqual(counts(full), { read: INVOICES + 2, unchanged: INVOICES + 1, changed: 1, rejected: 0, deleted: 0 });
      assert.equal((await golden(p, "invoice", "1003"))?.invoiced_at, "2025-12-20T12:00:00.000Z");
    });

    it("follows a cursor on a column of instants (with a zone, or kept in UTC), lookback included", async (t) => {
      const { p, legacy } = await setup(t, d, {
        jobs: {
          invoices: cursorJob(invoiceQuery(n, { extra: "updated_at" }), {
            cursor: { column: "updated_at", lookback: "1h" },
          }),
        },
      });
      await legacy.sql(`ALTER TABLE ${i.table} ADD updated_at ${d.zoned.type}`);
      await legacy.sql(`UPDATE ${i.table} SET updated_at = ${d.zoned.at("2026-03-01 06:00:00")}`);
      await legacy.sql(`UPDATE ${i.table} SET updated_at = ${d.zoned.at("2026-03-01 09:00:00")} WHERE ${i.id} = 412`);
      const first = await p.run("invoices");
      assertStatus(first);
      assert.deepEqual(counts(first), { read: INVOICES, unchanged: 0, changed: INVOICES, rejected: 0, deleted: 0 });
      assert.equal((await checkpoint(p, "invoices")).key, "412");

      await legacy.sql(
        `UPDATE ${i.table} SET ${i.total} = 11.11, updated_at = ${d.zoned.at("2026-03-01 10:30:00")} WHERE ${i.id} IN (7, 8)`,
      );
      const second = await p.run("invoices");
      assertStatus(second);
      // From 09:00 minus 1 hour: invoice 412 again, unchanged, and the two updated ones.
      assert.deepEqual(counts(second), { read: 3, unchanged: 1, changed: 2, rejected: 0, deleted: 0 });
      assert.equal((await golden(p, "invoice", "8"))?.total, "11.11");
      assert.equal((await checkpoint(p, "invoices")).key, "8");
    });

    it("carries date-times to the microsecond: a microsecond later is a change, the same instant is not", async (t) => {
      const { p, legacy } = await setup(t, d, {
        jobs: {
          invoices: snapshotJob("invoice", invoiceQuery(n, { where: `${i.id} IN (1, 2, 3)` })),
          "invoices-cursor": cursorJob(invoiceQuery(n, { where: `${i.id} IN (1, 2, 3)` })),
        },
      });
      if (d.microseconds) await legacy.sql(d.microseconds);
      await legacy.sql(updateInvoices(n, `${i.id} = 1`, "2026-01-05 09:00:00.000001"));
      await legacy.sql(updateInvoices(n, `${i.id} = 2`, "2026-01-05 09:00:00.000002"));
      await legacy.sql(updateInvoices(n, `${i.id} = 3`, "2026-01-05 09:00:00.5"));
      const first = await p.run("invoices");
      assertStatus(first);
      assert.equal(first.counts.changed, 3);
      assert.equal((await golden(p, "invoice", "1"))?.invoiced_at, "2026-01-05T09:00:00.000001Z");
      assert.equal((await golden(p, "invoice", "2"))?.invoiced_at, "2026-01-05T09:00:00.000002Z");
      assert.equal((await golden(p, "invoice", "3"))?.invoiced_at, "2026-01-05T09:00:00.500Z");

      assert.deepEqual(counts(await p.run("invoices")), { read: 3, unchanged: 3, changed: 0, rejected: 0, deleted: 0 });
      await legacy.sql(updateInvoices(n, `${i.id} = 1`, "2026-01-05 09:00:00.000003"));
      assert.deepEqual(counts(await p.run("invoices")), { read: 3, unchanged: 2, changed: 1, rejected: 0, deleted: 0 });
      assert.equal((await p.deliver()).created, 3);
      assert.equal(p.emulator.findBy("deals", "invoice_no", "1")?.properties.invoiced_at, "2026-01-05T09:00:00.000003Z");

      // A cursor on the column resumes at its last value to the microsecond, bound back as the database gave it.
      assertStatus(await p.run("invoices-cursor"));
      // The checkpoint holds the database's own text (MariaDB prints DATETIME(6) with six digits).
      const last = d.dialect === "mysql" ? "2026-01-05 09:00:00.500000" : "2026-01-05 09:00:00.5";
      assert.deepEqual(await checkpoint(p, "invoices-cursor"), { cursor: last, key: "3" });
      await legacy.sql(updateInvoices(n, `${i.id} = 2`, "2026-01-05 09:00:00.500001"));
      const resumed = await p.run("invoices-cursor");
      assert.deepEqual(counts(resumed), { read: 2, unchanged: 1, changed: 1, rejected: 0, deleted: 0 });
      assert.equal((await golden(p, "invoice", "2"))?.invoiced_at, "2026-01-05T09:00:00.500001Z");
    });

    it("reads date-times stored without a zone in the connection's time_zone, as UTC", async (t) => {
      if (d.dialect === "sqlite") {
        // SQLite has no date-time type: a zone other than UTC is refused where it is written.
        await assert.rejects(
          setup(t, d, {
            connections: (l) => ({ erp_ny: l.connection({ time_zone: "America/New_York" }) }),
            jobs: {},
          }),
          (e: unknown) =>
            e instanceof ConfigError &&
            /^ferry\.yaml:\d+:\d+ \(connections\.erp_ny\.time_zone\): SQLite has no date-time type/.test(e.message),
        );
        return;
      }
      const { p, legacy } = await setup(t, d, {
        connections: (l) => ({ erp_ny: l.connection({ time_zone: "America/New_York" }) }),
        jobs: {
          "invoices-ny": snapshotJob("invoice", invoiceQuery(n, { where: `${i.id} IN (1, 2)` }), { source: { connection: "erp_ny" } }),
        },
      });
      await legacy.sql(updateInvoices(n, `${i.id} = 1`, "2024-07-01 10:00:00"));
      const result = await p.run("invoices-ny");
      assertStatus(result);
      assert.equal(result.counts.changed, 2);
      // Summer time (UTC-4) in July, standard time (UTC-5) in January.
      assert.equal((await golden(p, "invoice", "1"))?.invoiced_at, "2024-07-01T14:00:00.000Z");
      assert.equal((await golden(p, "invoice", "2"))?.invoiced_at, "2021-01-02T05:00:00.000Z");
    });

    it("stops before writing when the query lacks the mapping's key or a mapped column, naming it", async (t) => {
      const { p } = await setup(t, d, {
        jobs: {
          "no-key": snapshotJob("customer", customerQuery(n).replace("AS customer_id", "AS id")),
          "no-country": snapshotJob("customer", customerQuery(n).replace("AS country", "AS nation")),
        },
      });
      const noKey = await failure(p, "no-key");
      assert.ok(noKey instanceof ConfigError, `a ConfigError, got ${noKey}`);
      assert.equal(noKey.code, "SOURCE_SQL_UNKNOWN_COLUMN");
      assert.match(noKey.message, d.unknownColumn("customer_id"));

      const noCountry = await failure(p, "no-country");
      assert.ok(noCountry instanceof ConfigError, `a ConfigError, got ${noCountry}`);
      assert.equal(noCountry.code, "CONFIG_MISSING_COLUMN");
      assert.match(noCountry.message, /"country"/);
      await assertNothingApplied(p);
    });

    it("names the missing key column, in the database's words, when the query holds a minus sign", async (t) => {
      const spread = `(SELECT MAX(i.${i.total}) - MIN(i.${i.total}) FROM ${i.table} i WHERE i.${i.customerId} = c.${c.id}) AS spread`;
      const { p } = await setup(t, d, {
        jobs: { "no-key": snapshotJob("customer", customerQuery(n, { extra: spread }).replace("AS customer_id", "AS id")) },
      });
      const error = await failure(p, "no-key");
      assert.ok(error instanceof ConfigError, `a ConfigError, got ${error}`);
      assert.equal(error.code, "SOURCE_SQL_UNKNOWN_COLUMN", error.message);
      assert.match(error.message, d.unknownColumn("customer_id"));
      await assertNothingApplied(p);
    });

    it("rejects the second row of a key the query returns twice, across a page boundary, and loses none", async (t) => {
      // Keys 1-5 fill the first page of 5; the second copy of 5 comes first on the next.
      const twice = `${customerQuery(n)}\nUNION ALL\n${customerQuery(n, { where: `c.${c.id} = 5`, email: "'twice5@example.com'" })}`;
      const { p } = await setup(t, d, {
        jobs: { customers: snapshotJob("customer", twice, { batch_size: 4, source: { fetch_size: 5 } }) },
      });
      const result = await p.run("customers");
      assertStatus(result, "partial");
      assert.deepEqual(counts(result), { read: CUSTOMERS + 1, unchanged: 0, changed: CUSTOMERS, rejected: 1, deleted: 0 });
      assert.deepEqual(
        result.rejects.map((r) => ({ key: r.key, code: r.code })),
        [{ key: "5", code: "DATA_DUPLICATE_KEY" }],
      );
      assert.equal((await p.deliver()).created, CUSTOMERS);
      assert.deepEqual(
        p.emulator.records("contacts").map((r) => String(r.properties.customer_no)).sort(byKey),
        numbers(1, CUSTOMERS),
      );
    });

    it("refuses a query that locks or writes before connecting, and the table keeps its rows", async (t) => {
      const port = await closedPort();
      // Each is refused when the project loads, naming the job file and the line of its query; the lock's
      // connection leads nowhere, so reaching for it would have failed with SOURCE_UNAVAILABLE instead.
      const jobs = {
        lock: snapshotJob("customer", `${customerQuery(n)} FOR UPDATE`, { source: { connection: "nowhere" } }),
        delete: snapshotJob("customer", `DELETE FROM ${c.table} WHERE ${c.id} = 59`),
      };
      let legacy: Awaited<ReturnType<typeof setup>>["legacy"] | undefined;
      for (const [name, job] of Object.entries(jobs)) {
        await assert.rejects(
          setup(t, d, {
            connections: (l) => {
              legacy = l;
              return { nowhere: d.unreachable(port).connection };
            },
            jobs: { [name]: job },
          }),
          (e: unknown) =>
            e instanceof ConfigError &&
            e.code === "SOURCE_SQL_NOT_READ_ONLY" &&
            new RegExp(`^jobs/${name}\\.yaml:\\d+:\\d+ \\(source\\.query\\)`).test(e.message),
        );
      }
      const [row] = await legacy!.sql(`SELECT COUNT(*) AS n FROM ${c.table}`);
      assert.equal(Number(row?.n), CUSTOMERS);
    });

    it("fails, retryable for a server, and applies nothing when the database cannot be reached", async (t) => {
      const { connection, fails } = d.unreachable(await closedPort());
      const { p } = await setup(t, d, {
        connections: () => ({ nowhere: connection }),
        jobs: { customers: snapshotJob("customer", customerQuery(n), { source: { connection: "nowhere" } }) },
      });
      const result = await p.run("customers");
      assertStatus(result, "failed");
      const error = result.error as CodedError;
      assert.ok(error instanceof fails.kind, `a ${fails.kind.name}, got ${error}`);
      if (fails.code) assert.equal(error.code, fails.code);
      assert.ok(error.message.includes(fails.names), `the message names ${fails.names}: ${error.message}`);
      assert.equal((await p.runRow(result.runId)).status, "failed");
      await assertNothingApplied(p);
    });

    it(
      "gives up on a page that runs past query_timeout, as retryable",
      { skip: typeof d.slowJoin === "string" ? false : d.slowJoin.none },
      async (t) => {
        const { p } = await setup(t, d, {
          connections: (l) => ({ slow: l.connection({ query_timeout: "1s" }) }),
          jobs: {
            customers: snapshotJob("customer", customerQuery(n, { join: d.slowJoin as string }), {
              source: { connection: "slow" },
            }),
          },
        });
        const result = await p.run("customers");
        assertStatus(result, "failed");
        const error = result.error as CodedError;
        assert.ok(error instanceof TransientError, `a TransientError, got ${error}`);
        assert.equal(error.code, "SOURCE_UNAVAILABLE");
        assert.match(error.message, /time ?out|timed out/i);
        await assertNothingApplied(p);
      },
    );

    it(
      "cannot write through a SELECT: the page's read-only transaction refuses to advance a sequence",
      { skip: "none" in d.sequence ? d.sequence.none : false },
      async (t) => {
        const sequence = d.sequence as { create: string; next: string };
        const { p, legacy } = await setup(t, d, {
          jobs: { customers: snapshotJob("customer", customerQuery(n, { extra: `${sequence.next} AS probe` })) },
        });
        await legacy.sql(sequence.create);
        const error = await failure(p, "customers");
        assert.ok(error instanceof ConfigError, `a ConfigError, got ${error}`);
        assert.equal(error.code, "SOURCE_SQL_QUERY_FAILED");
        assert.match(error.message, /read[- ]only/i);
        const [row] = await legacy.sql(`SELECT ${sequence.next} AS n`);
        assert.equal(Number(row?.n), 1, "the sequence had not advanced");
        await assertNothingApplied(p);
      },
    );
  });
}
