/**
 * Values a legacy database holds that JavaScript's own types cannot carry (decimals and integers past a
 * double's 15 digits, numbers past its range, NaN and infinities, date-times finer than a millisecond),
 * read through the `sql` source on live PostgreSQL and MariaDB and mapped to canonical values: each one
 * arrives exactly, or its row is rejected with a message naming the column and what to do. Each test
 * creates its own database and drops it afterwards.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it, type TestContext } from "node:test";
import Database from "better-sqlite3";
import mysql from "mysql2/promise";
import pg from "pg";
import { type MappingConfig, mappingSchema } from "../../src/config/mapping.schema.ts";
import { compileMapping } from "../../src/engine/map.ts";
import type { Values } from "../../src/engine/types.ts";
import { silentLogger } from "../../src/log.ts";
import { runContext } from "../../src/run-context.ts";
import { sqlConnectionSchema, sqlSourceSchema } from "../../src/sources/sql/sql.config.ts";
import { createSqlSource } from "../../src/sources/sql/sql.source.ts";
import { createTestMysqlDatabase, mysqlSkip } from "../support/mysql.ts";
import { createTestDatabase, pgSkip } from "../support/pg.ts";

type FieldType = MappingConfig["fields"][string]["type"];

interface Outcome {
  /** Canonical values by key. */
  records: Record<string, Values>;
  /** Rejected rows: their key (from the message) and the message. */
  rejects: string[];
}

/**
 * Reads `query` through the `sql` source on the connection `url` (in `time_zone` Europe/Paris) and maps
 * every row with a mapping of `fields` (column name = field name, keyed by `id`), as a run would.
 */
async function readMapped(dialect: "postgres" | "mysql" | "sqlite", url: string, query: string, fields: Record<string, FieldType>): Promise<Outcome> {
  const variable = `FERRY_IT_VALUES_URL_${process.pid}_${Math.random().toString(36).slice(2)}`.toUpperCase();
  const env = { ...process.env, [variable]: url };
  // The servers' admin logins read here, which a read refuses unless the connection allows them.
  const connection = sqlConnectionSchema.parse(
    dialect === "sqlite"
      ? { dialect, path: url }
      : { dialect, url: `\${env:${variable}}`, tls: { mode: "disable" }, time_zone: "Europe/Paris", allow_privileged_login: true },
  );
  const source = createSqlSource(sqlSourceSchema.parse({ type: "sql", connection: "erp", query }), {
    ...runContext({ baseDir: process.cwd(), env, log: silentLogger, file: "jobs/values.yaml", block: "source" }),
    connections: { erp: connection },
  });
  const mapping = compileMapping(
    mappingSchema.parse({
      entity: "thing",
      key: "id",
      fields: { id: { type: "string" }, ...Object.fromEntries(Object.entries(fields).map(([f, type]) => [f, { type }])) },
      sources: { erp: { id: "id", ...Object.fromEntries(Object.keys(fields).map((f) => [f, f])) } },
    }),
    "erp",
  );
  const out: Outcome = { records: {}, rejects: [] };
  try {
    for await (const batch of source.read({ mode: "snapshot", batchSize: 50, keyColumn: "id", signal: AbortSignal.timeout(60_000) })) {
      out.rejects.push(...batch.rejects.map((r) => r.error.message));
      for (const row of batch.rows) {
        const mapped = mapping.map(row.values);
        if (mapped.ok) out.records[mapped.key] = mapped.values;
        else out.rejects.push(mapped.error.message);
      }
    }
  } finally {
    await source.close();
  }
  return out;
}

/** A database of the test's own, with `statements` run in it; dropped when the test ends. */
async function postgresWith(t: TestContext, statements: string[]): Promise<string> {
  const db = await createTestDatabase();
  t.after(() => db.drop());
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    for (const s of statements) await client.query(s);
  } finally {
    await client.end();
  }
  return db.url;
}

async function mysqlWith(t: TestContext, statements: string[]): Promise<string> {
  const db = await createTestMysqlDatabase();
  t.after(() => db.drop());
  const conn = await mysql.createConnection({ uri: db.url });
  try {
    for (const s of statements) await conn.query(s);
  } finally {
    await conn.end();
  }
  return db.url;
}

const BIG = "12345678901234567890";
/** 1e400 and 1e-400 written out, as PostgreSQL's numeric (and so jsonb) prints them. */
const HUGE = `1${"0".repeat(400)}`;
const TINY = `0.${"0".repeat(399)}1`;

describe("exact values on PostgreSQL", { skip: await pgSkip() }, () => {
  it("numeric[] keeps every digit; NaN and Infinity, which JSON cannot hold, reject the row naming the column", async (t) => {
    const url = await postgresWith(t, [
      "CREATE TABLE vals (id int PRIMARY KEY, amounts numeric[], counts int8[], ratios float8[])",
      `INSERT INTO vals VALUES
        (1, '{1.10,${BIG}.5}', '{9223372036854775807,-1}', '{0.5,1e300}'),
        (2, '{{1,2.5},{NULL,-0.000000000000000000001}}', NULL, NULL),
        (3, '{NaN,Infinity}', NULL, NULL),
        (4, NULL, NULL, '{NaN,-Infinity}')`,
    ]);
    const { records, rejects } = await readMapped("postgres", url, "SELECT * FROM vals", { amounts: "string", counts: "string", ratios: "string" });
    assert.deepEqual(records["1"], {
      id: "1",
      amounts: `[1.1,${BIG}.5]`,
      counts: "[\"9223372036854775807\",\"-1\"]",
      ratios: "[0.5,1e+300]",
    });
    // A number a double holds exactly is written as JavaScript writes it, as it always was.
    assert.equal(records["2"]?.amounts, "[[1,2.5],[null,-1e-21]]");
    assert.equal(rejects.length, 2);
    assert.match(rejects[0]!, /^row 3 \(key 3\): column amounts holds NaN or an infinity, which JSON cannot carry: .*amounts::text\[\]/);
    assert.match(rejects[1]!, /^row 4 \(key 4\): column ratios holds NaN or an infinity/);
  });

  it("json and jsonb keep numbers a double would round or overflow; ordinary documents are as before", async (t) => {
    const url = await postgresWith(t, [
      "CREATE TABLE docs (id int PRIMARY KEY, doc jsonb, raw json)",
      `INSERT INTO docs VALUES
        (1, '{"n": ${BIG}, "list": [1, 2.5], "small": 1.10}', '[1e400, 1e-400, 0.1, ${BIG}]'),
        (2, '[1e400, 1e-400]', '{"a": "x\\u00e9",  "b" : [true, null, 1E2]}'),
        (3, '${BIG}', '"text"')`,
    ]);
    const { records, rejects } = await readMapped("postgres", url, "SELECT id, doc, raw, doc -> 'n' AS n FROM docs", {
      doc: "string",
      raw: "string",
      n: "decimal",
    });
    assert.deepEqual(rejects, []);
    assert.deepEqual(records["1"], {
      id: "1",
      doc: `{"n":${BIG},"list":[1,2.5],"small":1.1}`,
      raw: `[1e400,1e-400,0.1,${BIG}]`,
      n: BIG,
    });
    assert.equal(records["2"]?.doc, `[${HUGE},${TINY}]`);
    assert.equal(records["2"]?.raw, "{\"a\":\"xé\",\"b\":[true,null,100]}");
    assert.equal(records["3"]?.doc, BIG);
    assert.equal(records["3"]?.raw, "text");
  });

  it("date-times keep their microseconds, through the connection's zone, in arrays too", async (t) => {
    const url = await postgresWith(t, [
      "CREATE TABLE stamps (id int PRIMARY KEY, wall timestamp(6), zoned timestamptz, walls timestamp[], zoneds timestamptz[], days date[])",
      `INSERT INTO stamps VALUES
        (1, '2024-07-01 10:00:00.123456', '2024-07-01 10:00:00.123456+02', '{"2024-07-01 10:00:00.000001","2024-01-15 10:00:00"}',
          '{"2024-07-01 10:00:00.000002+00"}', '{2024-07-01,2024-12-31}'),
        (2, '2024-07-01 10:00:00.000001', NULL, NULL, NULL, NULL),
        (3, '2024-07-01 10:00:00.000002', NULL, NULL, NULL, NULL),
        (4, '2024-01-15 10:00:00', '2024-01-15 10:00:00+00', NULL, NULL, NULL)`,
    ]);
    const { records, rejects } = await readMapped("postgres", url, "SELECT * FROM stamps", {
      wall: "datetime",
      zoned: "datetime",
      walls: "string",
      zoneds: "string",
      days: "string",
    });
    assert.deepEqual(rejects, []);
    assert.deepEqual(records["1"], {
      id: "1",
      wall: "2024-07-01T08:00:00.123456Z",
      zoned: "2024-07-01T08:00:00.123456Z",
      walls: "[\"2024-07-01T08:00:00.000001Z\",\"2024-01-15T09:00:00.000Z\"]",
      zoneds: "[\"2024-07-01T10:00:00.000002Z\"]",
      days: "[\"2024-07-01\",\"2024-12-31\"]",
    });
    assert.equal(records["2"]?.wall, "2024-07-01T08:00:00.000001Z");
    assert.equal(records["3"]?.wall, "2024-07-01T08:00:00.000002Z");
    // Whole seconds keep the form they always had.
    assert.equal(records["4"]?.wall, "2024-01-15T09:00:00.000Z");
    assert.equal(records["4"]?.zoned, "2024-01-15T10:00:00.000Z");
  });
});

describe("exact values on MariaDB", { skip: await mysqlSkip() }, () => {
  it("DECIMAL and BIGINT UNSIGNED as exact text, JSON numbers as written, DATETIME(6) to the microsecond", async (t) => {
    const url = await mysqlWith(t, [
      `CREATE TABLE vals (id INT PRIMARY KEY, amount DECIMAL(38, 10), big BIGINT UNSIGNED, doc JSON,
        wall DATETIME(6), stamp TIMESTAMP(6) NULL)`,
      "SET time_zone = '+00:00'",
      `INSERT INTO vals VALUES
        (1, ${BIG}.123456789, 18446744073709551615, '{"n": ${BIG}, "x": [1e400, 1.10, 0.1234567890123456789]}',
          '2024-07-01 10:00:00.123456', '2024-07-01 10:00:00.654321'),
        (2, 0.1, 1, '{"a": [1, 2.5], "b": "é"}', '2024-07-01 10:00:00.000001', NULL),
        (3, NULL, NULL, NULL, '2024-07-01 10:00:00.000002', NULL),
        (4, NULL, NULL, NULL, '2024-01-15 10:00:00', NULL)`,
    ]);
    const { records, rejects } = await readMapped("mysql", url, "SELECT * FROM vals", {
      amount: "decimal",
      big: "string",
      doc: "string",
      wall: "datetime",
      stamp: "datetime",
    });
    assert.deepEqual(rejects, []);
    assert.deepEqual(records["1"], {
      id: "1",
      amount: `${BIG}.123456789`,
      big: "18446744073709551615",
      doc: `{"n":${BIG},"x":[1e400,1.1,0.1234567890123456789]}`,
      wall: "2024-07-01T08:00:00.123456Z",
      stamp: "2024-07-01T10:00:00.654321Z",
    });
    assert.equal(records["2"]?.doc, "{\"a\":[1,2.5],\"b\":\"é\"}");
    assert.equal(records["2"]?.wall, "2024-07-01T08:00:00.000001Z");
    assert.equal(records["3"]?.wall, "2024-07-01T08:00:00.000002Z");
    assert.equal(records["4"]?.wall, "2024-01-15T09:00:00.000Z");
  });
});

describe("exact values on SQLite", () => {
  it("INTEGER past 2^53 keeps every digit; ordinary integers are numbers as before; text date-times keep their digits", async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "ferry-values-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, "legacy.db");
    const db = new Database(file);
    db.exec(`CREATE TABLE vals (id INTEGER PRIMARY KEY, big INTEGER, n INTEGER, at TEXT);
      INSERT INTO vals VALUES (9007199254740993, 9223372036854775807, 42, '2024-07-01 10:00:00.123456'),
        (2, -9223372036854775808, -7, '2024-07-01T10:00:00.000001Z')`);
    db.close();
    const { records, rejects } = await readMapped("sqlite", file, "SELECT * FROM vals", { big: "decimal", n: "integer", at: "datetime" });
    assert.deepEqual(rejects, []);
    assert.deepEqual(records["9007199254740993"], { id: "9007199254740993", big: "9223372036854775807", n: 42, at: "2024-07-01T10:00:00.123456Z" });
    assert.deepEqual(records["2"], { id: "2", big: "-9223372036854775808", n: -7, at: "2024-07-01T10:00:00.000001Z" });
  });
});
