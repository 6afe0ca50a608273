import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import mysql from "mysql2/promise";
import pg from "pg";
import {
  CHINOOK_COUNTS,
  CHINOOK_CUSTOMER_1,
  CHINOOK_INVOICE_1,
  CHINOOK_NAMES,
  type ChinookTable,
  chinookSkip,
  loadChinookMysql,
  loadChinookPostgres,
  loadChinookSqlite,
  readSqlScript,
  splitSqlScript,
} from "./chinook.ts";
import { createTestMysqlDatabase, mysqlSkip } from "./mysql.ts";
import { createTestDatabase, pgSkip, type TestDatabase } from "./pg.ts";

const TABLES: readonly ChinookTable[] = ["customer", "employee", "invoice"];

/** The names CHINOOK_NAMES gives one table, as `table` and the sorted columns, to compare with a catalog. */
function namedColumns(names: Record<string, string>) {
  const { table, ...columns } = names;
  return { table, columns: Object.values(columns).sort() };
}

const ms = (since: number) => `${Math.round(performance.now() - since)} ms`;

describe("readSqlScript and splitSqlScript", () => {
  it("drops a BOM, keeps CRLF as whitespace, and splits outside literals and comments", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "ferry-chinook-"));
    try {
      const file = path.join(dir, "script.sql");
      const sql =
        "/* header; with a semicolon */\r\nDROP DATABASE IF EXISTS x;\r\n\\c x;\r\n" +
        "INSERT INTO t VALUES (N'a;b', 'it''s', \"q;\");\r\n-- done;\r\nSELECT 1";
      writeFileSync(file, `\uFEFF${sql}`);
      assert.equal(readSqlScript(file), sql);
      writeFileSync(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(sql, "utf16le")]));
      assert.equal(readSqlScript(file), sql);
      assert.deepEqual(splitSqlScript(sql), [
        "DROP DATABASE IF EXISTS x",
        "INSERT INTO t VALUES (N'a;b', 'it''s', \"q;\")",
        "SELECT 1",
      ]);
      writeFileSync(file, Buffer.from([0x53, 0xe9, 0x3b])); // "Sé;" in Windows-1252
      assert.throws(() => readSqlScript(file), /is not valid utf-8 text/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Chinook on PostgreSQL", { skip: chinookSkip() || (await pgSkip()) }, () => {
  const names = CHINOOK_NAMES.postgres;
  let db: TestDatabase | undefined;
  let client: pg.Client | undefined;
  let loadTime = "";

  before(async () => {
    db = await createTestDatabase();
    const start = performance.now();
    await loadChinookPostgres(db.url);
    loadTime = ms(start);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  after(async () => {
    await client?.end();
    await db?.drop();
  });

  it("loads customers, employees and invoices", async (t) => {
    t.diagnostic(`Chinook_PostgreSql.sql loaded in ${loadTime}`);
    const counts = await client!.query(
      `SELECT (SELECT count(*)::int FROM ${names.customer.table}) AS customers,
              (SELECT count(*)::int FROM ${names.employee.table}) AS employees,
              (SELECT count(*)::int FROM ${names.invoice.table}) AS invoices`,
    );
    assert.deepEqual({ ...counts.rows[0] }, CHINOOK_COUNTS);
  });

  it("keeps accented text and exact decimals, not trailing spaces", async () => {
    const c = names.customer;
    const customer = await client!.query(
      `SELECT ${c.firstName} AS "firstName", ${c.lastName} AS "lastName", ${c.email} AS email FROM ${c.table} WHERE ${c.id} = 1`,
    );
    assert.deepEqual({ ...customer.rows[0] }, CHINOOK_CUSTOMER_1);
    const i = names.invoice;
    const invoice = await client!.query(
      `SELECT ${i.customerId} AS "customerId", to_char(${i.invoiceDate}, 'YYYY-MM-DD') AS "invoiceDate", ${i.total} AS total
       FROM ${i.table} WHERE ${i.id} = 1`,
    );
    assert.deepEqual({ ...invoice.rows[0] }, CHINOOK_INVOICE_1);
    // The script's N'Edinburgh ' is a char literal to PostgreSQL, which drops trailing spaces.
    const city = await client!.query(`SELECT ${c.city} AS city FROM ${c.table} WHERE ${c.id} = 54`);
    assert.equal(city.rows[0]?.city, "Edinburgh");
  });

  it("has the tables and columns CHINOOK_NAMES gives", async () => {
    for (const table of TABLES) {
      const expected = namedColumns(names[table]);
      const { rows } = await client!.query<{ column_name: string }>(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
        [expected.table],
      );
      assert.deepEqual(rows.map((r) => r.column_name).sort(), expected.columns, table);
    }
  });
});

describe("Chinook on MariaDB", { skip: chinookSkip() || (await mysqlSkip()) }, () => {
  const names = CHINOOK_NAMES.mysql;
  let db: TestDatabase | undefined;
  let conn: mysql.Connection | undefined;
  let loadTime = "";

  before(async () => {
    db = await createTestMysqlDatabase();
    const start = performance.now();
    await loadChinookMysql(db.url);
    loadTime = ms(start);
    conn = await mysql.createConnection({ uri: db.url });
  });
  after(async () => {
    await conn?.end();
    await db?.drop();
  });

  it("loads customers, employees and invoices", async (t) => {
    t.diagnostic(`Chinook_MySql.sql loaded in ${loadTime}`);
    const [rows] = await conn!.query<mysql.RowDataPacket[]>(
      `SELECT (SELECT count(*) FROM ${names.customer.table}) AS customers,
              (SELECT count(*) FROM ${names.employee.table}) AS employees,
              (SELECT count(*) FROM ${names.invoice.table}) AS invoices`,
    );
    assert.deepEqual({ ...rows[0] }, CHINOOK_COUNTS);
  });

  it("keeps accented text, exact decimals, backslashes and trailing spaces", async () => {
    const c = names.customer;
    const [customer] = await conn!.query<mysql.RowDataPacket[]>(
      `SELECT ${c.firstName} AS firstName, ${c.lastName} AS lastName, ${c.email} AS email FROM ${c.table} WHERE ${c.id} = 1`,
    );
    assert.deepEqual({ ...customer[0] }, CHINOOK_CUSTOMER_1);
    const i = names.invoice;
    const [invoice] = await conn!.query<mysql.RowDataPacket[]>(
      `SELECT ${i.customerId} AS customerId, DATE_FORMAT(${i.invoiceDate}, '%Y-%m-%d') AS invoiceDate, ${i.total} AS total
       FROM ${i.table} WHERE ${i.id} = 1`,
    );
    assert.deepEqual({ ...invoice[0] }, CHINOOK_INVOICE_1);
    const [track] = await conn!.query<mysql.RowDataPacket[]>("SELECT Name AS name FROM Track WHERE TrackId = 3435");
    assert.equal(track[0]?.name, "Cavalleria Rusticana \\ Act \\ Intermezzo Sinfonico");
    const [city] = await conn!.query<mysql.RowDataPacket[]>(`SELECT ${c.city} AS city FROM ${c.table} WHERE ${c.id} = 54`);
    assert.equal(city[0]?.city, "Edinburgh ");
  });

  it("has the tables and columns CHINOOK_NAMES gives", async () => {
    for (const table of TABLES) {
      const expected = namedColumns(names[table]);
      const [rows] = await conn!.query<mysql.RowDataPacket[]>(
        "SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
        [expected.table],
      );
      assert.deepEqual(new Set(rows.map((r) => r.t as string)), new Set([expected.table]), table);
      assert.deepEqual(rows.map((r) => r.c as string).sort(), expected.columns, table);
    }
  });
});

describe("Chinook on SQLite", { skip: chinookSkip() }, () => {
  const names = CHINOOK_NAMES.sqlite;
  let dir: string | undefined;
  let db: Database.Database | undefined;
  let loadTime = "";

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "ferry-chinook-"));
    const file = path.join(dir, "chinook.sqlite");
    const start = performance.now();
    loadChinookSqlite(file);
    loadTime = ms(start);
    db = new Database(file, { readonly: true });
  });
  after(() => {
    db?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("loads customers, employees and invoices", (t) => {
    t.diagnostic(`Chinook_Sqlite.sql loaded in ${loadTime}`);
    const counts = db!
      .prepare(
        `SELECT (SELECT count(*) FROM ${names.customer.table}) AS customers,
                (SELECT count(*) FROM ${names.employee.table}) AS employees,
                (SELECT count(*) FROM ${names.invoice.table}) AS invoices`,
      )
      .get();
    assert.deepEqual(counts, CHINOOK_COUNTS);
  });

  it("keeps accented text and trailing spaces; totals are REALs that print as the decimals", () => {
    const c = names.customer;
    const customer = db!
      .prepare(`SELECT ${c.firstName} AS firstName, ${c.lastName} AS lastName, ${c.email} AS email FROM ${c.table} WHERE ${c.id} = 1`)
      .get();
    assert.deepEqual(customer, CHINOOK_CUSTOMER_1);
    const i = names.invoice;
    const invoice = db!
      .prepare(
        `SELECT ${i.customerId} AS customerId, date(${i.invoiceDate}) AS invoiceDate, printf('%.2f', ${i.total}) AS total,
                typeof(${i.total}) AS storedAs
         FROM ${i.table} WHERE ${i.id} = 1`,
      )
      .get();
    assert.deepEqual(invoice, { ...CHINOOK_INVOICE_1, storedAs: "real" });
    assert.equal(db!.prepare(`SELECT ${c.city} FROM ${c.table} WHERE ${c.id} = 54`).pluck().get(), "Edinburgh ");
  });

  it("has the tables and columns CHINOOK_NAMES gives", () => {
    for (const table of TABLES) {
      const expected = namedColumns(names[table]);
      const columns = db!.prepare("SELECT name FROM pragma_table_info(?)").pluck().all(expected.table) as string[];
      assert.deepEqual(columns.sort(), expected.columns, table);
    }
  });
});
