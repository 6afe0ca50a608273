/**
 * PostgreSQL through pg. Pages run in `BEGIN TRANSACTION READ ONLY`. Type parsers keep what JavaScript
 * would round or shift: numeric and int8 stay strings (pg's default), timestamps arrive as text and are
 * converted here (a `timestamp` in the connection's zone, a `timestamptz` by its offset) with every digit
 * of their fraction, dates stay `YYYY-MM-DD` instead of becoming local midnight. The same holds inside
 * arrays, whose elements pg would otherwise make doubles (numeric[]) or Dates in the process's zone
 * (timestamp[], date[]), and inside json and jsonb, whose numbers keep their digits (exact-json.ts).
 */
import { readFileSync } from "node:fs";
import pg from "pg";
import { converterFor } from "../../../engine/values.ts";
import { exactNumber, parseJsonExact } from "../exact-json.ts";
import { offsetToUtc, wallClockToUtc } from "../zone.ts";
import { type Dialect, doubleQuote, findingColumn, knexCancel, limitPage, Read, type ReadSettings, type ResolvedConnection } from "./dialect.ts";

const OID = {
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  bpchar: 1042,
  json: 114,
  jsonb: 3802,
  textArray: 1009,
  numericArray: 1231,
  dateArray: 1182,
  timestampArray: 1115,
  timestamptzArray: 1185,
  jsonArray: 199,
  jsonbArray: 3807,
} as const;

/** pg's own parser of an array's text (quoting, NULL, nesting), elements left as text. */
const textArray = (pg.types.getTypeParser as (oid: number, format: "text") => (value: string) => unknown)(OID.textArray, "text");

/** An array's text with each element (not NULL) made what `element` makes of it; nested arrays stay nested. */
function arrayOf(element: (text: string) => unknown): (value: string) => unknown {
  const each = (v: unknown): unknown => (Array.isArray(v) ? v.map(each) : v === null ? null : element(v as string));
  return (value) => each(textArray(value));
}

/** A numeric element: NaN and infinities as doubles (JSON cannot carry them: the row is refused), else exact. */
const numericElement = (text: string) => (/^(NaN|-?Infinity)$/.test(text) ? Number(text) : exactNumber(text));

/** A date-time element in canonical form (as a datetime field would have it); text it is not is kept as is. */
function instantElement(toUtc: (text: string) => string | null): (text: string) => unknown {
  const canonical = converterFor("datetime");
  return (text) => {
    const utc = toUtc(text);
    return utc === null ? text : canonical(utc);
  };
}

export function postgresTypes(settings: ReadSettings): { getTypeParser: typeof pg.types.getTypeParser } {
  const text = (value: string) => value;
  const wall = (value: string) => wallClockToUtc(value, settings.zone);
  const parsers: Record<number, (value: string) => unknown> = {
    [OID.date]: text,
    [OID.timestamp]: (value) => new Read(value, wall(value) ?? value),
    [OID.timestamptz]: (value) => new Read(value, offsetToUtc(value) ?? value),
    [OID.bpchar]: settings.trimChar ? (value) => value.replace(/ +$/, "") : text,
    [OID.json]: parseJsonExact,
    [OID.jsonb]: parseJsonExact,
    [OID.numericArray]: arrayOf(numericElement),
    [OID.dateArray]: arrayOf(text),
    [OID.timestampArray]: arrayOf(instantElement(wall)),
    [OID.timestamptzArray]: arrayOf(instantElement(offsetToUtc)),
    [OID.jsonArray]: arrayOf(parseJsonExact),
    [OID.jsonbArray]: arrayOf(parseJsonExact),
  };
  return {
    getTypeParser: ((oid: number, format?: string) =>
      parsers[oid] ?? pg.types.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
  };
}

export function tlsOptions(tls: ResolvedConnection["tls"]): false | Record<string, unknown> {
  if (tls.mode === "disable") return false;
  return {
    rejectUnauthorized: tls.mode === "verify",
    ...(tls.ca ? { ca: readFileSync(tls.ca, "utf8") } : {}),
    ...(tls.serverName ? { servername: tls.serverName } : {}),
  };
}

/**
 * The built-in roles whose members reach past the tables: read or write any file the server can
 * (`lo_export`, `COPY ... TO`), run programs as the server (`COPY ... PROGRAM`), end or cancel other
 * sessions, write every table, create subscriptions that connect out. A superuser holds them all; so does
 * a member of a superuser role (it can SET ROLE), and CREATEROLE could grant them (before PostgreSQL 16).
 * Asked of session_user: the login itself, whatever role it has set.
 */
const DANGEROUS_ROLES = [
  "pg_execute_server_program",
  "pg_read_server_files",
  "pg_write_server_files",
  "pg_signal_backend",
  "pg_write_all_data",
  "pg_create_subscription",
];

export const POSTGRES_PRIVILEGES = `SELECT finding FROM (
  SELECT 1 AS ord, 'superuser' AS finding FROM pg_roles WHERE rolname = session_user AND rolsuper
  UNION ALL SELECT 2, 'member of superuser role ' || r.rolname FROM pg_roles r
    WHERE r.rolsuper AND r.rolname <> session_user AND pg_has_role(session_user, r.oid, 'MEMBER')
  UNION ALL SELECT 3, 'member of ' || r.rolname FROM pg_roles r
    WHERE r.rolname IN (${DANGEROUS_ROLES.map((r) => `'${r}'`).join(", ")}) AND pg_has_role(session_user, r.oid, 'MEMBER')
  UNION ALL SELECT 4, 'CREATEROLE' FROM pg_roles WHERE rolname = session_user AND rolcreaterole
  UNION ALL SELECT 4, 'REPLICATION' FROM pg_roles WHERE rolname = session_user AND rolreplication
) AS f
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = session_user AND rolsuper) OR ord = 1
ORDER BY ord, finding`;

export const postgres: Dialect = {
  name: "postgres",
  knexConfig: (c, settings) => ({
    client: "pg",
    connection: {
      host: c.host,
      port: c.port ?? 5432,
      database: c.database,
      user: c.user,
      password: c.password,
      ssl: tlsOptions(c.tls),
      connectionTimeoutMillis: settings.connectTimeout,
      statement_timeout: settings.queryTimeout,
      application_name: "ferry",
      types: postgresTypes(settings),
    },
    pool: { min: 0, max: c.poolMax },
    acquireConnectionTimeout: settings.connectTimeout + 5_000,
  }),
  quote: doubleQuote,
  page: limitPage,
  readOnly: { kind: "transaction" },
  rows: (result) => (result as { rows: Record<string, unknown>[] }).rows,
  // pg's end() drops the socket of a client with a query in flight.
  cancel: { query: knexCancel, disconnect: (c) => void (c as pg.Client).end().catch(() => {}) },
  // Every table the login could change, whatever the route: grants, role membership, ownership, superuser.
  writeAccess: {
    sql: `SELECT n.nspname || '.' || c.relname || ': ' || concat_ws(', ',
      CASE WHEN has_table_privilege(c.oid, 'INSERT') THEN 'INSERT' END,
      CASE WHEN has_table_privilege(c.oid, 'UPDATE') THEN 'UPDATE' END,
      CASE WHEN has_table_privilege(c.oid, 'DELETE') THEN 'DELETE' END,
      CASE WHEN has_table_privilege(c.oid, 'TRUNCATE') THEN 'TRUNCATE' END) AS finding
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg_toast%'
      AND (has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE')
        OR has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE'))
    ORDER BY 1 LIMIT 50`,
    findings: findingColumn,
  },
  privileges: {
    sql: POSTGRES_PRIVILEGES,
    findings: findingColumn,
  },
};
