import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, test } from "node:test";
import type { Knex } from "knex";
import { Read, Refused, type ReadSettings, type ResolvedConnection, exactDecimal } from "./dialect.ts";
import { dialects } from "./index.ts";
import { MSSQL_PRIVILEGES, mssqlValue } from "./mssql.ts";
import { mysqlPrivilegedGrants, mysqlRows, mysqlWriteGrants } from "./mysql.ts";
import { ORACLE_PRIVILEGES, ORACLE_SESSION, oracleConnectString, oracleFetchTypeHandler, oracleNumber } from "./oracle.ts";
import { POSTGRES_PRIVILEGES, postgresTypes } from "./postgres.ts";
import { converterFor } from "../../../engine/values.ts";
import { canonicalRow } from "../canonical.ts";
import { jsonText } from "../exact-json.ts";

const settings: ReadSettings = {
  zone: "Europe/Paris",
  trimChar: true,
  maxLobBytes: 100,
  connectTimeout: 5_000,
  queryTimeout: 60_000,
};

const server = (over: Partial<ResolvedConnection> = {}): ResolvedConnection => ({
  dialect: "postgres",
  host: "erp-db",
  database: "erp",
  user: "ferry",
  password: "s3cret",
  tls: { mode: "verify" },
  poolMax: 3,
  ...over,
});

const page = (dialect: keyof typeof dialects, query: string, where = "", bindings: unknown[] = [], orderBy: string[] = []) =>
  dialects[dialect].page({ query, where: { sql: where, bindings }, orderBy, limit: 500 });

describe("pages", () => {
  test("SQLite, PostgreSQL and MySQL: a derived table with LIMIT, the limit bound last", () => {
    for (const d of ["sqlite", "postgres", "mysql"] as const) {
      const q = dialects[d].quote;
      const p = page(d, "SELECT * FROM t", `${q("id")} > ?`, [7], [q("id")]);
      assert.equal(p.sql, `SELECT * FROM (\nSELECT * FROM t\n) AS ferry_q WHERE ${q("id")} > ? ORDER BY ${q("id")} LIMIT ?`);
      assert.deepEqual(p.bindings, [7, 500]);
    }
  });

  test("quoting per dialect, embedded quotes doubled", () => {
    assert.equal(dialects.postgres.quote("Cust\"Id"), "\"Cust\"\"Id\"");
    assert.equal(dialects.mysql.quote("Cust`Id"), "`Cust``Id`");
    assert.equal(dialects.mssql.quote("Cust]Id"), "[Cust]]Id]");
    assert.equal(dialects.oracle.quote("CUST_ID"), "\"CUST_ID\"");
  });

  test("SQL Server: TOP with the limit bound first, cursor predicate and order", () => {
    const p = page("mssql", "SELECT * FROM dbo.Customer", "[Modified] > ? OR ([Modified] = ? AND [Id] > ?)", ["a", "a", 3], ["[Modified]", "[Id]"]);
    assert.equal(
      p.sql,
      "SELECT TOP (?) * FROM (\nSELECT * FROM dbo.Customer\n) AS ferry_q WHERE [Modified] > ? OR ([Modified] = ? AND [Id] > ?) ORDER BY [Modified], [Id]",
    );
    assert.deepEqual(p.bindings, [500, "a", "a", 3]);
  });

  test("SQL Server: a WITH query has its CTEs hoisted, since T-SQL cannot nest it", () => {
    const p = page("mssql", "WITH active AS (SELECT * FROM c WHERE s = 'A')\nSELECT id, name FROM active", "[id] >= ?", [10], ["[id]"]);
    assert.equal(
      p.sql,
      "WITH active AS (SELECT * FROM c WHERE s = 'A'),\nferry_q AS (\nSELECT id, name FROM active\n)\nSELECT TOP (?) * FROM ferry_q WHERE [id] >= ? ORDER BY [id]",
    );
    assert.deepEqual(p.bindings, [500, 10]);
  });

  test("Oracle: ROWNUM over an ordered inline view (every version), no AS before the alias", () => {
    const p = page("oracle", "SELECT * FROM CUSTOMERS", "\"CUST_ID\" > ?", [5], ["\"CUST_ID\""]);
    assert.equal(
      p.sql,
      "SELECT * FROM (SELECT * FROM (\nSELECT * FROM CUSTOMERS\n) ferry_q WHERE \"CUST_ID\" > ? ORDER BY \"CUST_ID\") WHERE ROWNUM <= ?",
    );
    assert.deepEqual(p.bindings, [5, 500]);
  });

  test("an unordered page (rows without a key)", () => {
    assert.equal(page("mssql", "SELECT 1 AS a", "[a] IS NULL").sql, "SELECT TOP (?) * FROM (\nSELECT 1 AS a\n) AS ferry_q WHERE [a] IS NULL");
    assert.equal(page("postgres", "SELECT 1 AS a").sql, "SELECT * FROM (\nSELECT 1 AS a\n) AS ferry_q LIMIT ?");
  });
});

describe("read-only", () => {
  test("each dialect's way of keeping a read read-only", () => {
    assert.equal(dialects.postgres.readOnly.kind, "transaction");
    assert.equal(dialects.mysql.readOnly.kind, "transaction");
    assert.deepEqual(dialects.oracle.readOnly, { kind: "statement", sql: "SET TRANSACTION READ ONLY" });
    assert.equal(dialects.sqlite.readOnly.kind, "none");
    assert.equal(dialects.mssql.readOnly.kind, "none");
    assert.match((dialects.mssql.readOnly as { why: string }).why, /ApplicationIntent=ReadOnly/);
  });

  test("SQLite opens the file read-only; every server dialect can ask what the login may write", () => {
    const cfg = dialects.sqlite.knexConfig({ dialect: "sqlite", path: "/data/erp.db", tls: { mode: "disable" }, poolMax: 1 }, settings);
    assert.deepEqual((cfg.connection as { options: unknown }).options, { readonly: true, fileMustExist: true });
    for (const d of ["postgres", "mysql", "mssql", "oracle"] as const) assert.ok(dialects[d].writeAccess, d);
    assert.match(dialects.mssql.writeAccess!.sql, /HAS_PERMS_BY_NAME/);
    assert.match(dialects.mssql.writeAccess!.sql, /IS_ROLEMEMBER\(r\.name\)/);
    assert.match(dialects.oracle.writeAccess!.sql, /session_privs/);
    assert.match(dialects.postgres.writeAccess!.sql, /has_table_privilege/);
  });

  test("MySQL grants that let the login write", () => {
    assert.deepEqual(
      mysqlWriteGrants([
        "GRANT USAGE ON *.* TO `ferry`@`%`",
        "GRANT SELECT ON `erp`.* TO `ferry`@`%`",
        "GRANT SELECT, INSERT ON `erp`.`orders` TO `ferry`@`%`",
        "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION",
        "GRANT SELECT ON `update_log`.* TO `ferry`@`%`",
      ]),
      ["GRANT SELECT, INSERT ON `erp`.`orders` TO `ferry`@`%`", "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"],
    );
  });
});

describe("privileged logins", () => {
  test("every server dialect asks; SQLite has no login", () => {
    assert.equal(dialects.sqlite.privileges, null);
    assert.equal(dialects.postgres.privileges!.sql, POSTGRES_PRIVILEGES);
    assert.equal(dialects.mysql.privileges!.sql, "SHOW GRANTS");
    assert.equal(dialects.mssql.privileges!.sql, MSSQL_PRIVILEGES);
    assert.equal(dialects.oracle.privileges!.sql, ORACLE_PRIVILEGES);
  });

  test("PostgreSQL: superuser (alone, it implies the rest), a superuser role, the roles that reach the server", () => {
    assert.match(POSTGRES_PRIVILEGES, /'superuser' AS finding FROM pg_roles WHERE rolname = session_user AND rolsuper/);
    assert.match(POSTGRES_PRIVILEGES, /'member of superuser role ' \|\| r\.rolname/);
    for (const role of ["pg_write_server_files", "pg_read_server_files", "pg_execute_server_program", "pg_signal_backend", "pg_write_all_data"]) {
      assert.ok(POSTGRES_PRIVILEGES.includes(`'${role}'`), role);
    }
    assert.match(POSTGRES_PRIVILEGES, /pg_has_role\(session_user, r\.oid, 'MEMBER'\)/);
    assert.match(POSTGRES_PRIVILEGES, /rolcreaterole/);
  });

  test("MySQL: global privileges that reach past the tables, from SHOW GRANTS, in both spellings", () => {
    assert.deepEqual(
      mysqlPrivilegedGrants([
        "GRANT USAGE ON *.* TO `ferry`@`%`",
        "GRANT SELECT ON `erp`.* TO `ferry`@`%`",
        "GRANT FILE, PROCESS ON *.* TO `ferry`@`%`",
        "GRANT ALL PRIVILEGES ON `erp`.* TO `ferry`@`%`",
      ]),
      ["FILE", "PROCESS"],
    );
    assert.deepEqual(mysqlPrivilegedGrants(["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"]), [
      "ALL PRIVILEGES",
      "GRANT OPTION",
    ]);
    assert.deepEqual(
      mysqlPrivilegedGrants([
        "GRANT SELECT, RELOAD, SHUTDOWN, SUPER ON *.* TO `ops`@`%`",
        "GRANT CONNECTION_ADMIN,SYSTEM_VARIABLES_ADMIN,XA_RECOVER_ADMIN ON *.* TO `ops`@`%`",
        "GRANT CONNECTION ADMIN, SLAVE MONITOR ON *.* TO `ops`@`%`",
      ]),
      ["RELOAD", "SHUTDOWN", "SUPER", "CONNECTION_ADMIN", "SYSTEM_VARIABLES_ADMIN", "CONNECTION ADMIN"],
    );
    assert.deepEqual(mysqlPrivilegedGrants(["GRANT SELECT ON `erp`.`orders` TO `ferry`@`%`"]), []);
  });

  test("SQL Server: sysadmin alone, else server roles, server permissions, xp_cmdshell and db_owner", () => {
    assert.match(MSSQL_PRIVILEGES, /'member of sysadmin' AS finding WHERE IS_SRVROLEMEMBER\('sysadmin'\) = 1/);
    assert.match(MSSQL_PRIVILEGES, /WHERE IS_SRVROLEMEMBER\('sysadmin'\) = 0 OR ord = 1/);
    for (const role of ["serveradmin", "securityadmin", "processadmin", "bulkadmin", "db_owner", "db_securityadmin"]) {
      assert.ok(MSSQL_PRIVILEGES.includes(`('${role}')`), role);
    }
    for (const permission of ["CONTROL SERVER", "ALTER ANY LOGIN", "ALTER ANY CONNECTION", "ADMINISTER BULK OPERATIONS", "VIEW SERVER STATE"]) {
      assert.ok(MSSQL_PRIVILEGES.includes(`('${permission}')`), permission);
    }
    assert.match(MSSQL_PRIVILEGES, /HAS_PERMS_BY_NAME\(NULL, NULL, p\.name\) = 1/);
    assert.match(MSSQL_PRIVILEGES, /HAS_PERMS_BY_NAME\('master\.sys\.xp_cmdshell', 'OBJECT', 'EXECUTE'\) = 1/);
    assert.match(MSSQL_PRIVILEGES, /IS_ROLEMEMBER\(r\.name\) = 1/);
    assert.deepEqual(dialects.mssql.privileges!.findings([{ finding: "member of sysadmin" }]), ["member of sysadmin"]);
  });

  test("Oracle: DBA and kindred roles, system privileges, a SYSDBA session; findings in capitals", () => {
    assert.match(ORACLE_PRIVILEGES, /FROM session_roles\s+WHERE role IN \('DBA', /);
    assert.match(ORACLE_PRIVILEGES, /FROM session_privs\s+WHERE privilege IN \('SYSDBA', /);
    for (const privilege of ["ALTER SYSTEM", "GRANT ANY PRIVILEGE", "CREATE ANY DIRECTORY", "CREATE EXTERNAL JOB", "BECOME USER"]) {
      assert.ok(ORACLE_PRIVILEGES.includes(`'${privilege}'`), privilege);
    }
    assert.match(ORACLE_PRIVILEGES, /SYS_CONTEXT\('USERENV', 'ISDBA'\) = 'TRUE'/);
    assert.deepEqual(dialects.oracle.privileges!.findings([{ FINDING: "role DBA" }]), ["role DBA"]);
  });
});

describe("cancelling the statement in flight", () => {
  test("PostgreSQL and MySQL through knex's cancel (pg_cancel_backend, KILL QUERY from a new connection)", async () => {
    for (const d of ["postgres", "mysql"] as const) {
      const asked: unknown[] = [];
      const knex = { client: { cancelQuery: (c: unknown) => Promise.resolve(asked.push(c)) } } as unknown as Knex;
      const connection = { processID: 42, threadId: 42 };
      await dialects[d].cancel!.query(connection, knex);
      assert.deepEqual(asked, [connection], d);
    }
  });

  test("dropping the connection when a cancel is not heard: the socket closed under the statement", () => {
    const calls: string[] = [];
    const pgClient = { end: () => (calls.push("pg end"), Promise.resolve()) };
    dialects.postgres.cancel!.disconnect!(pgClient);
    dialects.mysql.cancel!.disconnect!({ stream: { destroy: () => calls.push("mysql socket destroyed") } });
    dialects.mssql.cancel!.disconnect!({ close: () => calls.push("tedious close") });
    assert.deepEqual(calls, ["pg end", "mysql socket destroyed", "tedious close"]);
  });

  test("SQL Server: tedious cancels the request (an attention message); Oracle: connection.break()", async () => {
    const calls: string[] = [];
    const none = {} as Knex;
    await dialects.mssql.cancel!.query({ cancel: () => (calls.push("tedious cancel"), true) }, none);
    await dialects.oracle.cancel!.query({ break: () => (calls.push("oracle break"), Promise.resolve()) }, none);
    assert.deepEqual(calls, ["tedious cancel", "oracle break"]);
    assert.equal(dialects.oracle.cancel!.disconnect, undefined, "closing an Oracle connection waits for its call");
  });

  test("SQLite: none, better-sqlite3 runs a statement synchronously", () => {
    assert.equal(dialects.sqlite.cancel, undefined);
  });
});

describe("driver settings", () => {
  test("PostgreSQL: TLS verified by default, timeouts, pool, application name", () => {
    const cfg = dialects.postgres.knexConfig(server(), settings);
    const c = cfg.connection as Record<string, unknown>;
    assert.equal(cfg.client, "pg");
    assert.deepEqual(c.ssl, { rejectUnauthorized: true });
    assert.equal(c.port, 5432);
    assert.equal(c.connectionTimeoutMillis, 5_000);
    assert.equal(c.statement_timeout, 60_000);
    assert.equal(c.application_name, "ferry");
    assert.deepEqual(cfg.pool, { min: 0, max: 3 });
    const insecure = dialects.postgres.knexConfig(server({ tls: { mode: "insecure", serverName: "db.internal" } }), settings);
    assert.deepEqual((insecure.connection as Record<string, unknown>).ssl, { rejectUnauthorized: false, servername: "db.internal" });
    const plain = dialects.postgres.knexConfig(server({ tls: { mode: "disable" } }), settings);
    assert.equal((plain.connection as Record<string, unknown>).ssl, false);
  });

  test("MySQL: decimals and big integers as strings, dates as text, TLS", () => {
    const c = dialects.mysql.knexConfig(server({ dialect: "mysql" }), settings).connection as Record<string, unknown>;
    assert.equal(c.port, 3306);
    assert.equal(c.decimalNumbers, false);
    assert.equal(c.bigNumberStrings, true);
    assert.equal(c.supportBigNumbers, true);
    assert.equal(c.dateStrings, true);
    assert.equal(c.jsonStrings, true);
    assert.equal(c.charset, "utf8mb4");
    assert.deepEqual(c.ssl, { rejectUnauthorized: true });
    const plain = dialects.mysql.knexConfig(server({ dialect: "mysql", tls: { mode: "disable" } }), settings).connection as Record<string, unknown>;
    assert.equal(plain.ssl, undefined);
  });

  test("SQL Server: instance name, ApplicationIntent=ReadOnly, encryption, UTC, timeouts", () => {
    const cfg = dialects.mssql.knexConfig(server({ dialect: "mssql", instanceName: "SQLEXPRESS", readOnlyIntent: true }), settings);
    const c = cfg.connection as { options: Record<string, unknown> } & Record<string, unknown>;
    assert.equal(c.server, "erp-db");
    assert.equal(c.connectionTimeout, 5_000);
    assert.equal(c.requestTimeout, 60_000);
    assert.equal(c.options.instanceName, "SQLEXPRESS");
    assert.equal(c.options.readOnlyIntent, true);
    assert.equal(c.options.encrypt, true);
    assert.equal(c.options.trustServerCertificate, false);
    assert.equal(c.options.useUTC, true);
    const insecure = dialects.mssql.knexConfig(server({ dialect: "mssql", tls: { mode: "insecure" } }), settings).connection as { options: Record<string, unknown> };
    assert.equal(insecure.options.trustServerCertificate, true);
    assert.equal(typeof cfg.client, "function", "a client class converting values with their metadata");
  });

  test("Oracle: Easy Connect descriptors for a service, a SID, TLS; a given descriptor as is", () => {
    assert.equal(
      oracleConnectString(server({ dialect: "oracle", port: 1521, serviceName: "ERP", tls: { mode: "disable" } })),
      "(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=erp-db)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=ERP)))",
    );
    assert.equal(
      oracleConnectString(server({ dialect: "oracle", sid: "ORCL", tls: { mode: "disable" } })),
      "(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=erp-db)(PORT=1521))(CONNECT_DATA=(SID=ORCL)))",
    );
    assert.equal(
      oracleConnectString(server({ dialect: "oracle", serviceName: "ERP", tls: { mode: "verify", serverName: "CN=erp-db" } })),
      "(DESCRIPTION=(ADDRESS=(PROTOCOL=TCPS)(HOST=erp-db)(PORT=2484))(CONNECT_DATA=(SERVICE_NAME=ERP))(SECURITY=(SSL_SERVER_CERT_DN=\"CN=erp-db\")))",
    );
    const tns = "(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=a)(PORT=1))(CONNECT_DATA=(SERVICE_NAME=X)))";
    assert.equal(oracleConnectString(server({ dialect: "oracle", connectString: tns })), tns);
    assert.throws(
      () => dialects.oracle.knexConfig(server({ dialect: "oracle", serviceName: "ERP", tls: { mode: "insecure" } }), settings),
      /cannot accept an unverified certificate/,
    );
    assert.throws(
      () => dialects.oracle.knexConfig(server({ dialect: "oracle", serviceName: "ERP", tls: { mode: "verify", ca: "/etc/ferry/ca.pem" } }), settings),
      /wallet file named ewallet.pem/,
    );
    const wallet = dialects.oracle.knexConfig(server({ dialect: "oracle", serviceName: "ERP", tls: { mode: "verify", ca: "/etc/ferry/wallet/ewallet.pem" } }), settings);
    assert.equal((wallet.connection as Record<string, unknown>).walletLocation, "/etc/ferry/wallet");
    assert.match(ORACLE_SESSION, /NLS_DATE_FORMAT = 'YYYY-MM-DD HH24:MI:SS'/);
  });
});

describe("values", () => {
  test("PostgreSQL: zone-less timestamps read in the connection's zone, with the raw text kept for cursors", () => {
    const { getTypeParser } = postgresTypes(settings);
    const ts = getTypeParser(1114, "text")("2024-07-01 10:00:00.123456") as Read;
    assert.deepEqual([ts.raw, ts.value], ["2024-07-01 10:00:00.123456", "2024-07-01T08:00:00.123456Z"]);
    const tz = getTypeParser(1184, "text")("2024-07-01 10:00:00+02") as Read;
    assert.deepEqual([tz.raw, tz.value], ["2024-07-01 10:00:00+02", "2024-07-01T08:00:00Z"]);
    assert.equal(getTypeParser(1082, "text")("2024-07-01"), "2024-07-01");
    assert.equal(getTypeParser(1042, "text")("AB   "), "AB");
    assert.equal(getTypeParser(1700, "text")("12345678901234567890.123"), "12345678901234567890.123");
  });

  test("PostgreSQL: arrays and JSON keep every digit; NaN and infinities left for the row to be refused", () => {
    const { getTypeParser } = postgresTypes(settings);
    const parse = (oid: number, text: string) => jsonText(getTypeParser(oid, "text")(text));
    assert.equal(parse(1231, "{1.10,12345678901234567890.5,NULL}"), "[1.1,12345678901234567890.5,null]");
    assert.equal(parse(1231, "{{1,2},{3,-0.5}}"), "[[1,2],[3,-0.5]]");
    assert.equal(parse(1231, "{NaN,Infinity}"), null);
    assert.equal(parse(1016, "{9223372036854775807,-1}"), "[\"9223372036854775807\",\"-1\"]");
    assert.equal(parse(3802, "{\"n\": 12345678901234567890, \"f\": 1.10}"), "{\"n\":12345678901234567890,\"f\":1.1}");
    assert.equal(parse(114, "[1e400, 1e-400]"), "[1e400,1e-400]");
    assert.equal(parse(3802, "12345678901234567890"), "12345678901234567890");
    assert.equal(parse(3807, "{\"{\\\"n\\\": 12345678901234567890}\",NULL}"), "[{\"n\":12345678901234567890},null]");
    assert.equal(parse(199, "{\"[1e400]\"}"), "[[1e400]]");
  });

  test("PostgreSQL: date-time arrays in the connection's zone with every digit, date arrays as dates", () => {
    const { getTypeParser } = postgresTypes(settings);
    const parse = (oid: number, text: string) => jsonText(getTypeParser(oid, "text")(text));
    assert.equal(
      parse(1115, "{\"2024-07-01 10:00:00.123456\",\"2024-01-15 10:00:00\",infinity,NULL}"),
      "[\"2024-07-01T08:00:00.123456Z\",\"2024-01-15T09:00:00.000Z\",\"infinity\",null]",
    );
    assert.equal(parse(1185, "{\"2024-07-01 10:00:00.000001+02\"}"), "[\"2024-07-01T08:00:00.000001Z\"]");
    assert.equal(parse(1182, "{2024-07-01,2024-12-31}"), "[\"2024-07-01\",\"2024-12-31\"]");
  });

  test("MySQL: JSON (MySQL's type, MariaDB's by its metadata) parsed with its numbers kept", () => {
    const fields = [
      { name: "mysql", columnType: 245 },
      { name: "maria", columnType: 252, extendedFormat: "json" },
      { name: "text", columnType: 252 },
    ];
    const doc = "{\"n\": 12345678901234567890, \"x\": [1e400, 1.10]}";
    const [row] = mysqlRows([[{ mysql: doc, maria: doc, text: doc }], fields], settings);
    assert.equal(jsonText(row!.mysql), "{\"n\":12345678901234567890,\"x\":[1e400,1.1]}");
    assert.equal(jsonText(row!.maria), "{\"n\":12345678901234567890,\"x\":[1e400,1.1]}");
    assert.equal(row!.text, doc);
    const [scalar] = mysqlRows([[{ mysql: "\"text\"", maria: "not json", text: null }], fields], settings);
    assert.deepEqual(scalar, { mysql: "text", maria: "not json", text: null });
  });

  test("MySQL: DATETIME in the connection's zone, TIMESTAMP in UTC (the session's), BIT(1) a boolean", () => {
    const fields = [
      { name: "dt", columnType: 12 },
      { name: "ts", columnType: 7 },
      { name: "flag", columnType: 16, columnLength: 1 },
      { name: "bits", columnType: 16, columnLength: 8 },
      { name: "amount", columnType: 246 },
    ];
    const rows = mysqlRows(
      [[{ dt: "2024-01-15 10:00:00", ts: "2024-01-15 10:00:00", flag: Buffer.from([1]), bits: Buffer.from([5]), amount: "1.98" }, { dt: null, ts: null, flag: Buffer.from([0]), bits: null, amount: null }], fields],
      settings,
    );
    const dt = rows[0]!.dt as Read;
    assert.deepEqual([dt.raw, dt.value], ["2024-01-15 10:00:00", "2024-01-15T09:00:00Z"]);
    assert.equal((rows[0]!.ts as Read).value, "2024-01-15T10:00:00Z");
    assert.equal(rows[0]!.flag, true);
    assert.equal(rows[1]!.flag, false);
    assert.deepEqual(rows[0]!.bits, Buffer.from([5]));
    assert.equal(rows[0]!.amount, "1.98");
    assert.equal(rows[1]!.dt, null);
  });

  test("SQL Server: every stored digit of a datetime2, datetimeoffset as UTC, dates, decimals checked", () => {
    const meta = (name: string, extra: Record<string, number> = {}) => ({ colName: "c", type: { name }, ...extra });
    const d = Object.assign(new Date(Date.UTC(2024, 6, 1, 10, 0, 0, 123)), { nanosecondsDelta: 0.0004567 });
    const dt2 = mssqlValue({ value: d, metadata: meta("DateTime2N", { scale: 7 }) }, settings) as Read;
    assert.deepEqual([dt2.raw, dt2.value], ["2024-07-01 10:00:00.1234567", "2024-07-01T08:00:00.1234567Z"]);
    const dt = mssqlValue({ value: new Date(Date.UTC(2024, 0, 1, 0, 0, 0, 3)), metadata: meta("DateTimeN") }, settings) as Read;
    assert.equal(dt.raw, "2024-01-01 00:00:00.003");
    const off = mssqlValue({ value: new Date(Date.UTC(2024, 0, 1, 8, 0, 0)), metadata: meta("DateTimeOffsetN", { scale: 0 }) }, settings);
    assert.ok(off instanceof Read);
    assert.equal(mssqlValue({ value: new Date(Date.UTC(2024, 0, 1)), metadata: meta("DateN") }, settings), "2024-01-01");
    assert.equal(mssqlValue({ value: 1234.5, metadata: meta("DecimalN", { scale: 2, precision: 10 }) }, settings), "1234.50");
    assert.equal(mssqlValue({ value: 12.3456, metadata: meta("MoneyN") }, settings), "12.3456");
    assert.ok(mssqlValue({ value: 12345678901234.56, metadata: meta("DecimalN", { scale: 4 }) }, settings) instanceof Refused);
    assert.equal(mssqlValue({ value: "AB   ", metadata: meta("NChar") }, settings), "AB");
    assert.equal(mssqlValue({ value: "AB   ", metadata: meta("NVarChar") }, settings), "AB   ");
    assert.equal(mssqlValue({ value: null, metadata: meta("DecimalN") }, settings), null);
  });

  test("SQL Server: datetime2's 100 ns and a datetimeoffset's digits reach a datetime field; decimals past 15 digits refused", () => {
    const meta = (name: string, extra: Record<string, number> = {}) => ({ colName: "BALANCE", type: { name }, ...extra });
    const at = (ms: number, delta: number) => Object.assign(new Date(ms), { nanosecondsDelta: delta });
    const utc = { ...settings, zone: "UTC" };
    const datetime = converterFor("datetime");
    const canonical = (value: unknown) => datetime((canonicalRow({ v: value }, 100) as { values: { v: unknown } }).values.v);
    const t = Date.UTC(2024, 6, 1, 10, 0, 0, 0);
    assert.equal(canonical(mssqlValue({ value: at(t, 0.0000001), metadata: meta("DateTime2", { scale: 7 }) }, utc)), "2024-07-01T10:00:00.0000001Z");
    assert.equal(canonical(mssqlValue({ value: at(t, 0.0000002), metadata: meta("DateTime2", { scale: 7 }) }, utc)), "2024-07-01T10:00:00.0000002Z");
    assert.equal(canonical(mssqlValue({ value: at(t + 123, 0.000456), metadata: meta("DateTime2", { scale: 6 }) }, settings)), "2024-07-01T08:00:00.123456Z");
    assert.equal(canonical(mssqlValue({ value: at(t + 999, 0.0009999), metadata: meta("DateTimeOffset", { scale: 7 }) }, settings)), "2024-07-01T10:00:00.9999999Z");
    assert.equal(canonical(mssqlValue({ value: at(t, 0), metadata: meta("DateTime2", { scale: 7 }) }, utc)), "2024-07-01T10:00:00.000Z");
    const refused = mssqlValue({ value: 12345678901234.56, metadata: meta("DecimalN", { scale: 2, precision: 38 }) }, settings);
    assert.ok(refused instanceof Refused);
    assert.equal(
      refused.reason,
      "column BALANCE holds a decimal the driver returns as a float, which cannot carry its 16 digits exactly: cast it to text in the query, e.g. CAST(BALANCE AS VARCHAR(40))",
    );
    assert.equal(mssqlValue({ value: "9223372036854775807", metadata: meta("BigInt") }, settings), "9223372036854775807");
  });

  test("Oracle: TIMESTAMP's nine digits reach a datetime field; JSON as the server's text, numbers kept", () => {
    const oracledb = createRequire(import.meta.url)("oracledb") as Record<string, unknown>;
    const handler = oracleFetchTypeHandler(settings);
    const datetime = converterFor("datetime");
    const ts = handler({ dbType: oracledb.DB_TYPE_TIMESTAMP, name: "T" }) as { type: unknown; converter(v: string): Read };
    assert.equal(ts.type, oracledb.STRING);
    assert.equal(datetime(ts.converter("2024-07-01 10:00:00.123456789").value), "2024-07-01T08:00:00.123456789Z");
    assert.equal(datetime(ts.converter("2024-07-01 10:00:00.000001000").value), "2024-07-01T08:00:00.000001Z");
    assert.equal(datetime(ts.converter("2024-07-01 10:00:00.000000000").value), "2024-07-01T08:00:00.000Z");
    const ltz = handler({ dbType: oracledb.DB_TYPE_TIMESTAMP_LTZ, name: "L" }) as { converter(v: string): Read };
    assert.equal(ltz.converter("2024-07-01 10:00:00.000000500").value, "2024-07-01T10:00:00.000000500Z");
    assert.match(ORACLE_SESSION, /NLS_TIMESTAMP_FORMAT = 'YYYY-MM-DD HH24:MI:SS\.FF9'/);
    assert.match(ORACLE_SESSION, /NLS_NUMERIC_CHARACTERS = '\.,'/);
    const json = handler({ dbType: oracledb.DB_TYPE_JSON, name: "J" }) as { type: unknown; converter(v: string | null): unknown };
    assert.equal(json.type, oracledb.STRING);
    assert.equal(jsonText(json.converter("{\"n\":12345678901234567890,\"x\":[1.10,1E400]}")), "{\"n\":12345678901234567890,\"x\":[1.1,1E400]}");
    assert.equal(json.converter(null), null);
    assert.equal(oracleNumber("12345678901234567890.123456789"), "12345678901234567890.123456789");
  });

  test("SQLite: pages read with safe integers; those a double holds are numbers, larger ones stay exact", () => {
    assert.deepEqual(dialects.sqlite.queryOptions!(settings), { safeIntegers: true });
    const rows = dialects.sqlite.rows([{ id: 9007199254740991n, big: 9007199254740993n, low: -(2n ** 63n), r: 1.5, t: "x", n: null }], settings);
    assert.deepEqual(rows, [{ id: 9007199254740991, big: 9007199254740993n, low: -(2n ** 63n), r: 1.5, t: "x", n: null }]);
  });

  test("exactDecimal: up to 15 significant digits is exact; beyond, refused with a way out", () => {
    assert.equal(exactDecimal(0.1, 2, "x"), "0.10");
    assert.equal(exactDecimal(-99999999999.9999, 4, "x"), "-99999999999.9999");
    const refused = exactDecimal(123456789012.3456, 4, "BALANCE");
    assert.ok(refused instanceof Refused);
    assert.match(refused.reason, /CAST\(BALANCE AS VARCHAR\(40\)\)/);
  });

  test("Oracle: numbers as text, dates in the connection's zone, large objects over the limit refused", async () => {
    const oracledb = createRequire(import.meta.url)("oracledb") as Record<string, unknown>;
    const handler = oracleFetchTypeHandler(settings);
    assert.deepEqual(handler({ dbType: oracledb.DB_TYPE_NUMBER, name: "N" }), { type: oracledb.STRING, converter: oracleNumber });
    assert.deepEqual([".5", "-.25", "12.5", "-3", null].map(oracleNumber), ["0.5", "-0.25", "12.5", "-3", null]);
    const date = handler({ dbType: oracledb.DB_TYPE_DATE, name: "D" }) as { converter(v: string): Read };
    assert.equal(date.converter("2024-01-15 10:00:00").value, "2024-01-15T09:00:00Z");
    const tz = handler({ dbType: oracledb.DB_TYPE_TIMESTAMP_TZ, name: "T" }) as { converter(v: string): Read };
    assert.equal(tz.converter("2024-01-15 10:00:00.500000000+01:00").value, "2024-01-15T09:00:00.500000000Z");
    const clob = handler({ dbType: oracledb.DB_TYPE_CLOB, name: "NOTES" }) as { converter(v: unknown): Promise<unknown> };
    assert.equal(await clob.converter({ length: 10, getData: async () => "short text" }), "short text");
    const big = await clob.converter({ length: 1000, getData: async () => "x".repeat(1000) });
    assert.ok(big instanceof Refused);
    assert.match(big.reason, /NOTES holds a large object of 1000 characters/);
    assert.equal(handler({ dbType: oracledb.DB_TYPE_VARCHAR, name: "V" }), undefined);
  });
});
