/**
 * SQL Server through knex's tedious client. SQL Server has no read-only transaction: the connection asks
 * for `ApplicationIntent=ReadOnly` (a routing hint to a readable secondary), and only a SELECT-only login
 * really protects the source, which `ferry check` verifies.
 *
 * tedious hands values over with their column metadata, which knex drops; a small subclass converts them
 * first: date-times to text with every digit SQL Server stored (a JavaScript Date keeps milliseconds only,
 * tedious the rest in `nanosecondsDelta`), decimals checked for exactness (tedious returns them as floats),
 * CHAR padding trimmed when asked.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { wallClockToUtc } from "../zone.ts";
import { type Dialect, exactDecimal, findingColumn, type PageRequest, Read, type ReadSettings, type Statement } from "./dialect.ts";
import { splitCte } from "../read-only.ts";

interface ColumnValue {
  value: unknown;
  metadata: { colName: string; type: { name: string }; scale?: number; precision?: number };
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** The Date tedious made (UTC fields = what was stored), with the digits beyond milliseconds it kept aside. */
function stamp(date: Date & { nanosecondsDelta?: number }, scale: number, time = true): string {
  const day = `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
  if (!time) return day;
  let text = `${day} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  if (scale > 0) {
    const fraction = date.getUTCMilliseconds() / 1000 + (date.nanosecondsDelta ?? 0);
    text += `.${fraction.toFixed(scale).slice(2)}`;
  }
  return text;
}

export function mssqlValue(column: ColumnValue, settings: ReadSettings): unknown {
  const { value, metadata } = column;
  if (value === null || value === undefined) return null;
  const type = metadata.type.name;
  if (value instanceof Date) {
    if (type === "DateTimeOffset") {
      const text = `${stamp(value, metadata.scale ?? 7).replace(" ", "T")}Z`;
      return new Read(text.replace(/Z$/, "+00:00"), text);
    }
    if (type === "DateN" || type === "Date") return stamp(value, 0, false);
    if (type === "TimeN" || type === "Time") return stamp(value, metadata.scale ?? 7).slice(11);
    // datetime keeps 1/300 s, shown as milliseconds; smalldatetime whole minutes; datetime2 its scale.
    const scale = type.startsWith("DateTime2") ? (metadata.scale ?? 7) : type === "SmallDateTime" ? 0 : 3;
    const text = stamp(value, scale);
    return new Read(text, wallClockToUtc(text, settings.zone) ?? text);
  }
  if (typeof value === "number" && /^(Decimal|Numeric|Money|SmallMoney)/.test(type)) {
    const scale = metadata.scale ?? (type.includes("Money") ? 4 : 0);
    return exactDecimal(value, scale, metadata.colName);
  }
  if (typeof value === "string" && settings.trimChar && /^N?Char$/.test(type)) return value.replace(/ +$/, "");
  return value;
}

const require = createRequire(import.meta.url);

/** knex's SQL Server client, with values converted while their metadata is still at hand. */
function ferryClient(settings: ReadSettings): unknown {
  const Base = require("knex/lib/dialects/mssql/index.js") as new (config: unknown) => {
    processResponse(query: { response?: unknown }, runner: unknown): unknown;
  };
  return class FerryMssqlClient extends Base {
    override processResponse(query: { response?: unknown }, runner: unknown): unknown {
      if (Array.isArray(query?.response)) {
        for (const row of query.response as ColumnValue[][]) {
          if (!Array.isArray(row)) continue;
          for (const column of row) column.value = mssqlValue(column, settings);
        }
      }
      return super.processResponse(query, runner);
    }
  };
}

export function mssqlPage({ query, where, orderBy, limit }: PageRequest): Statement {
  const filter = where.sql ? ` WHERE ${where.sql}` : "";
  const order = orderBy.length > 0 ? ` ORDER BY ${orderBy.join(", ")}` : "";
  // A WITH query cannot be a derived table in T-SQL: its CTEs are hoisted and the query becomes one more.
  const cte = splitCte(query, "mssql");
  const from = cte ? "ferry_q" : `(\n${query}\n) AS ferry_q`;
  const head = cte ? `${cte.ctes},\nferry_q AS (\n${cte.body}\n)\n` : "";
  return { sql: `${head}SELECT TOP (?) * FROM ${from}${filter}${order}`, bindings: [limit, ...where.bindings] };
}

/**
 * Server roles and permissions that reach past the database's tables (the server's files through BULK
 * INSERT and OPENROWSET, programs through xp_cmdshell, other sessions through KILL, other logins), and
 * the database roles that own or administer the database. sysadmin holds every permission: the others are
 * only listed for a login that is not one.
 */
export const MSSQL_PRIVILEGES = `SELECT finding FROM (
  SELECT 1 AS ord, 'member of sysadmin' AS finding WHERE IS_SRVROLEMEMBER('sysadmin') = 1
  UNION ALL SELECT 2, 'member of ' + r.name FROM (VALUES ('serveradmin'), ('securityadmin'), ('setupadmin'), ('processadmin'),
    ('diskadmin'), ('dbcreator'), ('bulkadmin')) AS r(name) WHERE IS_SRVROLEMEMBER(r.name) = 1
  UNION ALL SELECT 3, 'server permission ' + p.name FROM (VALUES ('CONTROL SERVER'), ('ALTER ANY LOGIN'), ('ALTER ANY CONNECTION'),
    ('ALTER SERVER STATE'), ('ALTER SETTINGS'), ('ADMINISTER BULK OPERATIONS'), ('SHUTDOWN'), ('IMPERSONATE ANY LOGIN'),
    ('VIEW SERVER STATE'), ('EXTERNAL ACCESS ASSEMBLY'), ('UNSAFE ASSEMBLY')) AS p(name) WHERE HAS_PERMS_BY_NAME(NULL, NULL, p.name) = 1
  UNION ALL SELECT 4, 'may run xp_cmdshell' WHERE HAS_PERMS_BY_NAME('master.sys.xp_cmdshell', 'OBJECT', 'EXECUTE') = 1
  UNION ALL SELECT 5, 'member of ' + r.name FROM (VALUES ('db_owner'), ('db_securityadmin'), ('db_accessadmin')) AS r(name)
    WHERE IS_ROLEMEMBER(r.name) = 1
) AS f
WHERE IS_SRVROLEMEMBER('sysadmin') = 0 OR ord = 1
ORDER BY ord, finding`;

export const mssql: Dialect = {
  name: "mssql",
  knexConfig: (c, settings) => ({
    client: ferryClient(settings) as string,
    connection: {
      server: c.host,
      port: c.port ?? 1433,
      database: c.database,
      user: c.user,
      password: c.password,
      connectionTimeout: settings.connectTimeout,
      requestTimeout: settings.queryTimeout,
      options: {
        appName: "ferry",
        useUTC: true,
        encrypt: c.tls.mode !== "disable",
        trustServerCertificate: c.tls.mode === "insecure",
        ...(c.tls.ca ? { cryptoCredentialsDetails: { ca: readFileSync(c.tls.ca, "utf8") } } : {}),
        ...(c.tls.serverName ? { serverName: c.tls.serverName } : {}),
        ...(c.instanceName ? { instanceName: c.instanceName } : {}),
        readOnlyIntent: c.readOnlyIntent ?? true,
      },
    },
    pool: { min: 0, max: c.poolMax },
    acquireConnectionTimeout: settings.connectTimeout + 5_000,
  }),
  quote: (name) => `[${name.replaceAll("]", "]]")}]`,
  page: mssqlPage,
  readOnly: {
    kind: "none",
    why: "SQL Server has no read-only transaction: the connection uses ApplicationIntent=ReadOnly, and the login must only be able to SELECT",
  },
  rows: (result) => result as Record<string, unknown>[],
  // tedious sends the server an attention message for the request in flight, which then fails as cancelled.
  cancel: {
    query: (c) => {
      (c as { cancel(): boolean }).cancel();
      return Promise.resolve();
    },
    disconnect: (c) => (c as { close(): void }).close(),
  },
  writeAccess: {
    sql: `SELECT 'member of ' + r.name AS finding FROM (VALUES ('db_owner'), ('db_datawriter'), ('db_ddladmin')) AS r(name)
      WHERE IS_ROLEMEMBER(r.name) = 1
      UNION ALL SELECT 'sysadmin' WHERE IS_SRVROLEMEMBER('sysadmin') = 1
      UNION ALL SELECT 'database permission ' + p.name FROM (VALUES ('INSERT'), ('UPDATE'), ('DELETE'), ('ALTER'), ('CONTROL')) AS p(name)
      WHERE HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', p.name) = 1
      UNION ALL SELECT TOP 50 SCHEMA_NAME(t.schema_id) + '.' + t.name + ': INSERT, UPDATE or DELETE' FROM sys.tables t
      WHERE HAS_PERMS_BY_NAME(QUOTENAME(SCHEMA_NAME(t.schema_id)) + '.' + QUOTENAME(t.name), 'OBJECT', 'INSERT') = 1
         OR HAS_PERMS_BY_NAME(QUOTENAME(SCHEMA_NAME(t.schema_id)) + '.' + QUOTENAME(t.name), 'OBJECT', 'UPDATE') = 1
         OR HAS_PERMS_BY_NAME(QUOTENAME(SCHEMA_NAME(t.schema_id)) + '.' + QUOTENAME(t.name), 'OBJECT', 'DELETE') = 1`,
    findings: (rows) => rows.map((r) => String(r.finding)),
  },
  privileges: { sql: MSSQL_PRIVILEGES, findings: findingColumn },
  bindCursor: (value) =>
    typeof value === "string" && /^0x[0-9a-f]+$/i.test(value) ? Buffer.from(value.slice(2), "hex") : value,
};
