/**
 * The `sql` source on a live SQL Server and a live Oracle database, which cannot run beside the other
 * test servers: each suite runs only when its server is named, and skips otherwise (even under
 * FERRY_REQUIRE_SERVICES=1, which does not cover them):
 *
 *   FERRY_TEST_MSSQL_URL=mssql://user:password@host:1433/database
 *   FERRY_TEST_ORACLE_URL=oracle://user:password@host:1521/SERVICE_NAME
 *
 * TLS follows FERRY_TEST_MSSQL_TLS / FERRY_TEST_ORACLE_TLS (verify | insecure | disable), by default
 * `insecure` for SQL Server (its self-signed certificate) and `disable` for Oracle (a plain listener).
 * The login needs to create and drop a table in its default schema; Oracle's database character set must
 * hold the test's text (AL32UTF8, the default of current versions).
 *
 * Each test creates a uniquely named table of a dozen rows holding the types that are hard to carry
 * exactly (decimals, sub-millisecond date-times, date-times with an offset, national characters, padded
 * CHAR, SQL Server's rowversion, Oracle's NCLOB), reads it through `createSqlSource` in snapshot and in
 * cursor mode, checks the canonical values, and drops the table.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it, type TestContext } from "node:test";
import knexFactory, { type Knex } from "knex";
import { silentLogger } from "../../src/log.ts";
import type { CursorPosition, ReadRequest, SourceReject } from "../../src/sources/source.ts";
import { sqlConnectionSchema, sqlSourceSchema } from "../../src/sources/sql/sql.config.ts";
import { createSqlSource } from "../../src/sources/sql/sql.source.ts";
import { runContext } from "../../src/run-context.ts";

type TlsMode = "verify" | "insecure" | "disable";

interface Remote {
  /** The server's URL, from the environment. */
  url: URL;
  tls: TlsMode;
  /** A session with every right the login has, to create, fill and drop the test's table. */
  admin: Knex;
}

const MSSQL = { variable: "FERRY_TEST_MSSQL_URL", example: "mssql://user:password@host:1433/database" };
const ORACLE = { variable: "FERRY_TEST_ORACLE_URL", example: "oracle://user:password@host:1521/SERVICE_NAME" };

function remoteSkip({ variable, example }: { variable: string; example: string }): string | false {
  return process.env[variable]
    ? false
    : `${variable} is not set: set it to ${example} to run these tests against a live server`;
}

function tlsMode(variable: string, fallback: TlsMode): TlsMode {
  const value = process.env[variable] ?? fallback;
  if (value !== "verify" && value !== "insecure" && value !== "disable") {
    throw new Error(`${variable} must be verify, insecure or disable, not "${value}"`);
  }
  return value;
}

function remoteUrl(variable: string): URL {
  const text = process.env[variable];
  if (!text) throw new Error(`${variable} is not set`);
  return new URL(text);
}

const decode = (part: string) => decodeURIComponent(part);

function mssqlRemote(): Remote {
  const url = remoteUrl(MSSQL.variable);
  const tls = tlsMode("FERRY_TEST_MSSQL_TLS", "insecure");
  const admin = knexFactory({
    client: "mssql",
    connection: {
      server: url.hostname,
      port: url.port === "" ? 1433 : Number(url.port),
      database: decode(url.pathname.replace(/^\//, "")),
      user: decode(url.username),
      password: decode(url.password),
      options: { encrypt: tls !== "disable", trustServerCertificate: tls === "insecure", appName: "ferry-test" },
    },
    pool: { min: 0, max: 1 },
  });
  return { url, tls, admin };
}

function oracleRemote(): Remote {
  const url = remoteUrl(ORACLE.variable);
  const tls = tlsMode("FERRY_TEST_ORACLE_TLS", "disable");
  const port = url.port === "" ? 1521 : Number(url.port);
  const service = decode(url.pathname.replace(/^\//, ""));
  const admin = knexFactory({
    client: "oracledb",
    connection: {
      user: decode(url.username),
      password: decode(url.password),
      connectString: `${tls === "disable" ? "" : "tcps://"}${url.hostname}:${port}/${service}`,
    },
    pool: { min: 0, max: 1 },
  });
  return { url, tls, admin };
}

/** The server's connection as ferry.yaml would declare it; the URL stays a reference to the environment. */
function ferryConnection(dialect: "mssql" | "oracle", variable: string, tls: TlsMode, extra: Record<string, unknown> = {}) {
  return sqlConnectionSchema.parse({
    dialect,
    url: `\${env:${variable}}`,
    tls: { mode: tls },
    connect_timeout: "30s",
    query_timeout: "60s",
    // The login must create tables (see above): often one a run would refuse as privileged.
    allow_privileged_login: true,
    ...extra,
  });
}

interface ReadOutcome {
  rows: Record<string, unknown>[];
  rejects: SourceReject[];
  /** The position of each cursor-mode batch, in order. */
  positions: CursorPosition[];
}

/** Reads everything a source yields for one request, then closes it. */
async function readAll(
  connection: ReturnType<typeof ferryConnection>,
  job: Record<string, unknown>,
  request: Omit<ReadRequest, "signal" | "batchSize"> & { batchSize?: number },
): Promise<ReadOutcome> {
  const source = createSqlSource(sqlSourceSchema.parse({ type: "sql", connection: "remote", ...job }), {
    ...runContext({ baseDir: process.cwd(), env: process.env, log: silentLogger, file: "jobs/remote.yaml", block: "source" }),
    connections: { remote: connection },
  });
  const out: ReadOutcome = { rows: [], rejects: [], positions: [] };
  try {
    for await (const batch of source.read({ batchSize: 4, signal: AbortSignal.timeout(120_000), ...request })) {
      out.rows.push(...batch.rows.map((r) => r.values));
      out.rejects.push(...batch.rejects);
      if (batch.position) out.positions.push(batch.position);
    }
  } finally {
    await source.close();
  }
  return out;
}

const keysOf = (rows: Record<string, unknown>[], key: string) => rows.map((r) => String(r[key]));
const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => String(from + k));
const pad2 = (n: number) => String(n).padStart(2, "0");
const uniqueName = () => `ferry_t_${randomBytes(5).toString("hex")}`;

const UNICODE = "Zoë Ñandú – 東京 🚢";

interface Statement {
  sql: string;
  bindings?: Knex.RawBinding[];
}

/**
 * Creates and fills the test's table (the first statement creates it), and drops it, then closes the admin
 * session, when the test ends.
 */
async function withTable(t: TestContext, remote: Remote, statements: Statement[], drop: string): Promise<void> {
  let created = false;
  t.after(async () => {
    try {
      if (created) await remote.admin.raw(drop);
    } finally {
      await remote.admin.destroy();
    }
  });
  for (const [k, { sql, bindings }] of statements.entries()) {
    await remote.admin.raw(sql, bindings ?? []);
    if (k === 0) created = true;
  }
}

// ---------------------------------------------------------------------------------------------------------
// SQL Server

/** id 1-10 one minute apart; 11 and 12 within the same millisecond, 100 ns apart. */
const mssqlTime = (id: number) =>
  id <= 10 ? `2024-07-01 10:${pad2(id)}:00.0000000` : id === 11 ? "2024-07-01 10:30:00.1234567" : "2024-07-01 10:30:00.1234568";

function mssqlCreate(table: string): Statement[] {
  const amount = (id: number) => (id === 1 ? "0.1" : id === 2 ? "-12345678.9012" : `${id}.25`);
  const values = ids(1, 12).map((text) => {
    const id = Number(text);
    return `(${id}, ${amount(id)}, '${mssqlTime(id)}', N'${id === 1 ? UNICODE : `Name ${id}`}', '${id === 1 ? "AB" : `C${id}`}')`;
  });
  return [
    {
      sql: `CREATE TABLE ${table} (
        id INT NOT NULL PRIMARY KEY,
        amount DECIMAL(12, 4) NULL,
        happened_at DATETIME2(7) NULL,
        name NVARCHAR(100) NULL,
        code CHAR(8) NULL,
        rv ROWVERSION NOT NULL
      )`,
    },
    { sql: `INSERT INTO ${table} (id, amount, happened_at, name, code) VALUES ${values.join(",\n")}` },
  ];
}

/** The test's SQL Server table, filled; dropped when the test ends. */
async function mssqlTable(t: TestContext, remote: Remote): Promise<string> {
  const table = uniqueName();
  await withTable(t, remote, mssqlCreate(table), `DROP TABLE IF EXISTS ${table}`);
  return table;
}

describe("sql source on a live SQL Server", { skip: remoteSkip(MSSQL), timeout: 300_000 }, () => {
  const connection = (tls: TlsMode, extra: Record<string, unknown> = {}) =>
    ferryConnection("mssql", MSSQL.variable, tls, extra);
  const columns = "id, amount, happened_at, name, code";

  it("reads a snapshot page by page, with exact decimals, 100 ns date-times, national characters and CHAR padding", async (t) => {
    const remote = mssqlRemote();
    const table = await mssqlTable(t, remote);
    const { rows, rejects } = await readAll(
      connection(remote.tls),
      { query: `SELECT ${columns} FROM ${table}`, fetch_size: 5 },
      { mode: "snapshot", keyColumn: "id" },
    );
    assert.deepEqual(rejects, []);
    assert.deepEqual(keysOf(rows, "id"), ids(1, 12));
    assert.deepEqual(rows[0], {
      id: 1,
      amount: "0.1000",
      happened_at: "2024-07-01T10:01:00.0000000Z",
      name: UNICODE,
      code: "AB      ",
    });
    assert.equal(rows[1]?.amount, "-12345678.9012");
    assert.equal(rows[10]?.happened_at, "2024-07-01T10:30:00.1234567Z");
    assert.equal(rows[11]?.happened_at, "2024-07-01T10:30:00.1234568Z");
  });

  it("reads date-times in the connection's time_zone and trims CHAR padding when asked", async (t) => {
    const remote = mssqlRemote();
    const table = await mssqlTable(t, remote);
    const { rows } = await readAll(
      connection(remote.tls, { time_zone: "Europe/Paris" }),
      { query: `SELECT ${columns} FROM ${table} WHERE id IN (1, 11)`, trim_char: true },
      { mode: "snapshot", keyColumn: "id" },
    );
    assert.deepEqual(
      rows.map((r) => [r.id, r.happened_at, r.code]),
      [
        [1, "2024-07-01T08:01:00.0000000Z", "AB"],
        [11, "2024-07-01T08:30:00.1234567Z", "C11"],
      ],
    );
  });

  it("follows a datetime2(7) cursor one row a page, through values 100 ns apart, and resumes inclusively", async (t) => {
    const remote = mssqlRemote();
    const table = await mssqlTable(t, remote);
    const job = { query: `SELECT ${columns} FROM ${table}`, fetch_size: 1 };
    const cursor = { column: "happened_at", lookback: null };
    const first = await readAll(connection(remote.tls), job, {
      mode: "cursor",
      keyColumn: "id",
      cursor: { ...cursor, from: null },
    });
    assert.deepEqual(keysOf(first.rows, "id"), ids(1, 12), "every row once, in cursor order");
    const last = first.positions.at(-1);
    assert.deepEqual(last, { cursor: "2024-07-01 10:30:00.1234568", key: 12 });

    await remote.admin.raw(
      `INSERT INTO ${table} (id, amount, happened_at, name, code) VALUES (13, 1.5, '${mssqlTime(12)}', N'Late', 'L')`,
    );
    const next = await readAll(connection(remote.tls), job, {
      mode: "cursor",
      keyColumn: "id",
      cursor: { ...cursor, from: last ?? null },
    });
    // The bound is inclusive: row 12 again (unchanged, the engine skips it), and the row with its value.
    assert.deepEqual(keysOf(next.rows, "id"), ["12", "13"]);
  });

  it("follows a rowversion cursor, kept as hex, to the rows updated since", async (t) => {
    const remote = mssqlRemote();
    const table = await mssqlTable(t, remote);
    const job = { query: `SELECT id, name, rv FROM ${table}`, cursor_type: "rowversion", fetch_size: 5 };
    const first = await readAll(connection(remote.tls), job, {
      mode: "cursor",
      keyColumn: "id",
      cursor: { column: "rv", lookback: null, from: null },
    });
    assert.deepEqual([...keysOf(first.rows, "id")].sort((a, b) => Number(a) - Number(b)), ids(1, 12));
    const last = first.positions.at(-1);
    assert.ok(last && typeof last.cursor === "string" && /^0x[0-9a-f]{16}$/i.test(last.cursor), `a hex rowversion: ${last?.cursor}`);
    assert.equal(typeof first.rows[0]?.rv, "string", "binary values are carried as base64 text");

    await remote.admin.raw(`UPDATE ${table} SET name = N'Changed' WHERE id IN (3, 7)`);
    const next = await readAll(connection(remote.tls), job, {
      mode: "cursor",
      keyColumn: "id",
      cursor: { column: "rv", lookback: null, from: last ?? null },
    });
    // From the last position, inclusive: that row again, and the two updated since.
    assert.deepEqual(new Set(keysOf(next.rows, "id")), new Set(["3", "7", String(last?.key)]));
    assert.ok(next.rows.filter((r) => r.id === 3 || r.id === 7).every((r) => r.name === "Changed"));
  });

  it("checks the connection: a sample of rows, and whether the login could write", async (t) => {
    const remote = mssqlRemote();
    const table = await mssqlTable(t, remote);
    const source = createSqlSource(
      sqlSourceSchema.parse({ type: "sql", connection: "remote", query: `SELECT ${columns} FROM ${table}` }),
      { ...runContext({ baseDir: process.cwd(), env: process.env, log: silentLogger, file: "jobs/remote.yaml", block: "source" }), connections: { remote: connection(remote.tls) } },
    );
    try {
      const check = await source.check!({ limit: 3, signal: AbortSignal.timeout(60_000) });
      assert.equal(check.rows.length, 3);
      assert.deepEqual(check.columns, ["id", "amount", "happened_at", "name", "code"]);
      assert.ok(
        !check.warnings.some((w) => w.startsWith("could not ask")),
        `the write-access query runs on SQL Server: ${check.warnings.join("; ")}`,
      );
    } finally {
      await source.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Oracle

/** id 1-10 one minute apart; 11 and 12 one microsecond apart; all at +02:00. */
const oracleTime = (id: number) =>
  id <= 10 ? `2024-07-01 10:${pad2(id)}:00.000000` : id === 11 ? "2024-07-01 10:30:00.123456" : "2024-07-01 10:30:00.123457";

/** A long NCLOB for row 1 (500 characters, over 1000 bytes in UTF-16), short ones elsewhere. */
const notes = (id: number) => (id === 1 ? `${UNICODE} ${"ß".repeat(500 - UNICODE.length - 1)}` : `Notes ${id}`);

function oracleCreate(table: string): Statement[] {
  const amount = (id: number) => (id === 1 ? "0.1" : id === 2 ? "-12345678.9012" : `${id}.25`);
  return [
    {
      sql: `CREATE TABLE ${table} (
        ID NUMBER(10) PRIMARY KEY,
        AMOUNT NUMBER(12, 4),
        BOOKED DATE,
        HAPPENED_AT TIMESTAMP(6) WITH TIME ZONE,
        NAME NVARCHAR2(100),
        CODE CHAR(8),
        NOTES NCLOB
      )`,
    },
    ...ids(1, 12).map((text) => {
      const id = Number(text);
      return {
        sql: `INSERT INTO ${table} (ID, AMOUNT, BOOKED, HAPPENED_AT, NAME, CODE, NOTES) VALUES (
          ${id}, ${amount(id)},
          TO_DATE('2024-07-01 10:00:00', 'YYYY-MM-DD HH24:MI:SS'),
          TO_TIMESTAMP_TZ('${oracleTime(id)} +02:00', 'YYYY-MM-DD HH24:MI:SS.FF6 TZH:TZM'),
          ?, ?, ?)`,
        bindings: [id === 1 ? UNICODE : `Name ${id}`, id === 1 ? "AB" : `C${id}`, notes(id)],
      };
    }),
  ];
}

/** The test's Oracle table, filled; dropped when the test ends. */
async function oracleTable(t: TestContext, remote: Remote): Promise<string> {
  const table = uniqueName().toUpperCase();
  await withTable(t, remote, oracleCreate(table), `DROP TABLE ${table} PURGE`);
  return table;
}

describe("sql source on a live Oracle database", { skip: remoteSkip(ORACLE), timeout: 300_000 }, () => {
  const connection = (tls: TlsMode, extra: Record<string, unknown> = {}) =>
    ferryConnection("oracle", ORACLE.variable, tls, extra);
  const columns = "ID, AMOUNT, BOOKED, HAPPENED_AT, NAME, CODE, NOTES";

  it("reads a snapshot page by page, with exact numbers, DATE, TIMESTAMP WITH TIME ZONE, NCHAR and NCLOB", async (t) => {
    const remote = oracleRemote();
    const table = await oracleTable(t, remote);
    const { rows, rejects } = await readAll(
      connection(remote.tls),
      { query: `SELECT ${columns} FROM ${table}`, fetch_size: 5 },
      { mode: "snapshot", keyColumn: "ID" },
    );
    assert.deepEqual(rejects, []);
    assert.deepEqual(keysOf(rows, "ID"), ids(1, 12));
    const [one, two] = rows;
    assert.deepEqual(
      { ...one, HAPPENED_AT: undefined },
      {
        ID: "1",
        AMOUNT: "0.1",
        BOOKED: "2024-07-01T10:00:00Z",
        HAPPENED_AT: undefined,
        NAME: UNICODE,
        CODE: "AB      ",
        NOTES: notes(1),
      },
    );
    // 10:01 at +02:00; Oracle prints the fraction to the digits the session asks for.
    assert.match(String(one?.HAPPENED_AT), /^2024-07-01T08:01:00(\.0+)?Z$/);
    assert.equal(two?.AMOUNT, "-12345678.9012");
    assert.match(String(rows[10]?.HAPPENED_AT), /^2024-07-01T08:30:00\.123456(0{0,3})Z$/);
  });

  it("reads DATE in the connection's time_zone, trims CHAR when asked, and refuses a LOB over max_lob_bytes", async (t) => {
    const remote = oracleRemote();
    const table = await oracleTable(t, remote);
    const { rows, rejects } = await readAll(
      connection(remote.tls, { time_zone: "Europe/Paris" }),
      { query: `SELECT ${columns} FROM ${table} WHERE ID IN (1, 2, 3)`, trim_char: true, max_lob_bytes: 400 },
      { mode: "snapshot", keyColumn: "ID" },
    );
    // Row 1's NCLOB (500 characters) is over the limit: its record is rejected, the others read on.
    assert.deepEqual(
      rejects.map((r) => r.error.code),
      ["DATA_SQL_VALUE_REFUSED"],
    );
    assert.match(rejects[0]!.error.message, /NOTES/);
    assert.deepEqual(
      rows.map((r) => [r.ID, r.BOOKED, r.CODE]),
      [
        ["2", "2024-07-01T08:00:00Z", "C2"],
        ["3", "2024-07-01T08:00:00Z", "C3"],
      ],
    );
  });

  it("follows a TIMESTAMP WITH TIME ZONE cursor one row a page, through values 1 µs apart, and resumes inclusively", async (t) => {
    const remote = oracleRemote();
    const table = await oracleTable(t, remote);
    const job = { query: `SELECT ID, NAME, HAPPENED_AT FROM ${table}`, fetch_size: 1 };
    const first = await readAll(connection(remote.tls), job, {
      mode: "cursor",
      keyColumn: "ID",
      cursor: { column: "HAPPENED_AT", lookback: null, from: null },
    });
    assert.deepEqual(keysOf(first.rows, "ID"), ids(1, 12), "every row once, in cursor order");
    const last = first.positions.at(-1);
    assert.equal(String(last?.key), "12");

    await remote.admin.raw(
      `INSERT INTO ${table} (ID, NAME, HAPPENED_AT) VALUES (13, 'Late',
        TO_TIMESTAMP_TZ('${oracleTime(12)} +02:00', 'YYYY-MM-DD HH24:MI:SS.FF6 TZH:TZM'))`,
    );
    const next = await readAll(connection(remote.tls), job, {
      mode: "cursor",
      keyColumn: "ID",
      cursor: { column: "HAPPENED_AT", lookback: "1h", from: last ?? null },
    });
    // One hour back from 10:30 at +02:00 takes every row again, and the new one; nothing twice.
    assert.deepEqual(keysOf(next.rows, "ID"), ids(1, 13));
  });

  it("checks the connection: a sample of rows, and whether the login could write", async (t) => {
    const remote = oracleRemote();
    const table = await oracleTable(t, remote);
    const source = createSqlSource(
      sqlSourceSchema.parse({ type: "sql", connection: "remote", query: `SELECT ID, AMOUNT FROM ${table}` }),
      { ...runContext({ baseDir: process.cwd(), env: process.env, log: silentLogger, file: "jobs/remote.yaml", block: "source" }), connections: { remote: connection(remote.tls) } },
    );
    try {
      const check = await source.check!({ limit: 3, signal: AbortSignal.timeout(60_000) });
      assert.equal(check.rows.length, 3);
      assert.ok(
        !check.warnings.some((w) => w.startsWith("could not ask")),
        `the write-access query runs on Oracle: ${check.warnings.join("; ")}`,
      );
      // The test's login created a table: Ferry must say it could write.
      assert.ok(check.warnings.some((w) => w.includes("the login can write")), check.warnings.join("; "));
    } finally {
      await source.close();
    }
  });
});
