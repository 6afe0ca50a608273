/**
 * PostgreSQL through pg. Pages run in `BEGIN TRANSACTION READ ONLY`. Type parsers keep what JavaScript
 * would round or shift: numeric and int8 stay strings (pg's default), timestamps arrive as text and are
 * converted here (a `timestamp` in the connection's zone, a `timestamptz` by its offset), dates stay
 * `YYYY-MM-DD` instead of becoming local midnight.
 */
import { readFileSync } from "node:fs";
import pg from "pg";
import { offsetToUtc, wallClockToUtc } from "../zone.ts";
import { type Dialect, doubleQuote, limitPage, Read, type ReadSettings, type ResolvedConnection } from "./dialect.ts";

const OID = { date: 1082, timestamp: 1114, timestamptz: 1184, bpchar: 1042 } as const;

export function postgresTypes(settings: ReadSettings): { getTypeParser: typeof pg.types.getTypeParser } {
  const text = (value: string) => value;
  const parsers: Record<number, (value: string) => unknown> = {
    [OID.date]: text,
    [OID.timestamp]: (value) => new Read(value, wallClockToUtc(value, settings.zone) ?? value),
    [OID.timestamptz]: (value) => new Read(value, offsetToUtc(value) ?? value),
    [OID.bpchar]: settings.trimChar ? (value) => value.replace(/ +$/, "") : text,
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
    findings: (rows) => rows.map((r) => String(r.finding)),
  },
};
