/**
 * Oracle through node-oracledb in thin mode (pure JavaScript, no Instant Client). Pages run in a
 * transaction opened by `SET TRANSACTION READ ONLY`. Each session fixes its date formats, so dates
 * fetched as text and cursor values bound back as text mean the same thing; NUMBER is fetched as text
 * (never a float), DATE and TIMESTAMP as wall-clock text read in the connection's zone, TIMESTAMP WITH
 * TIME ZONE by its offset, each with all nine digits of its fraction; the JSON type (21c) as the text the
 * server writes, parsed without losing a number. Pages use ROWNUM, which every Oracle version since 8
 * understands.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { parseJsonExact } from "../exact-json.ts";
import { offsetToUtc, wallClockToUtc } from "../zone.ts";
import { type Dialect, doubleQuote, findingColumn, type PageRequest, Read, Refused, type ReadSettings, type ResolvedConnection, type Statement } from "./dialect.ts";

export const ORACLE_SESSION = `ALTER SESSION SET NLS_DATE_FORMAT = 'YYYY-MM-DD HH24:MI:SS' NLS_TIMESTAMP_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9' NLS_TIMESTAMP_TZ_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9TZH:TZM' NLS_NUMERIC_CHARACTERS = '.,' TIME_ZONE = '+00:00'`;

/** Easy Connect (host:port/service), a SID descriptor, or the descriptor given as is; `tcps` for TLS. */
export function oracleConnectString(c: ResolvedConnection): string {
  if (c.connectString) return c.connectString;
  const protocol = c.tls.mode === "disable" ? "TCP" : "TCPS";
  const port = c.port ?? (protocol === "TCPS" ? 2484 : 1521);
  const target = c.sid ? `(SID=${c.sid})` : `(SERVICE_NAME=${c.serviceName})`;
  const security =
    protocol === "TCPS" && c.tls.serverName ? `(SECURITY=(SSL_SERVER_CERT_DN="${c.tls.serverName}"))` : "";
  return `(DESCRIPTION=(ADDRESS=(PROTOCOL=${protocol})(HOST=${c.host})(PORT=${port}))(CONNECT_DATA=${target})${security})`;
}

interface FetchMetadata {
  dbType: unknown;
  name: string;
}

const require = createRequire(import.meta.url);

export function oracleNumber(v: string | null): string | null {
  if (v === null) return null;
  return v.startsWith(".") ? `0${v}` : v.startsWith("-.") ? `-0${v.slice(1)}` : v;
}

/** A JSON column's text, parsed with its numbers kept (text that is not JSON stays as it is). */
export function oracleJson(v: string | null): unknown {
  if (v === null) return null;
  try {
    return parseJsonExact(v);
  } catch {
    return v;
  }
}

/** Per-column fetch rules: what arrives as text, and how it becomes canonical. */
export function oracleFetchTypeHandler(settings: ReadSettings) {
  const oracledb = require("oracledb") as Record<string, unknown>;
  const t = (name: string) => oracledb[name];
  return (meta: FetchMetadata): Record<string, unknown> | undefined => {
    const type = meta.dbType;
    // Oracle prints fractions without a leading zero (.5, -.5).
    if (type === t("DB_TYPE_NUMBER")) return { type: t("STRING"), converter: oracleNumber };
    if (type === t("DB_TYPE_DATE") || type === t("DB_TYPE_TIMESTAMP")) {
      return {
        type: t("STRING"),
        converter: (v: string | null) => (v === null ? null : new Read(v, wallClockToUtc(v, settings.zone) ?? v)),
      };
    }
    if (type === t("DB_TYPE_TIMESTAMP_TZ") || type === t("DB_TYPE_TIMESTAMP_LTZ")) {
      // WITH LOCAL TIME ZONE is printed without an offset, in the session's zone, which is UTC.
      return {
        type: t("STRING"),
        converter: (v: string | null) => (v === null ? null : new Read(v, offsetToUtc(v) ?? wallClockToUtc(v, "UTC") ?? v)),
      };
    }
    if (type === t("DB_TYPE_JSON")) {
      // node-oracledb would decode OSON numbers with parseFloat; the server's text keeps them.
      return { type: t("STRING"), converter: oracleJson };
    }
    if (settings.trimChar && (type === t("DB_TYPE_CHAR") || type === t("DB_TYPE_NCHAR"))) {
      return { converter: (v: string | null) => (v === null ? null : v.replace(/ +$/, "")) };
    }
    if (type === t("DB_TYPE_CLOB") || type === t("DB_TYPE_NCLOB") || type === t("DB_TYPE_BLOB")) {
      // Fetched whole only under the size limit: the locator's length is known before its content is read.
      const binary = type === t("DB_TYPE_BLOB");
      return {
        converter: async (lob: { length: number; getData(): Promise<unknown> } | null) => {
          if (lob === null) return null;
          const bytes = binary ? lob.length : lob.length * 2;
          if (bytes > settings.maxLobBytes) {
            return new Refused(
              `column ${meta.name} holds a large object of ${lob.length} ${binary ? "bytes" : "characters"}, more than max_lob_bytes (${settings.maxLobBytes}): raise max_lob_bytes in the job or leave the column out of the query`,
            );
          }
          return lob.getData();
        },
      };
    }
    return undefined;
  };
}

export function oraclePage({ query, where, orderBy, limit }: PageRequest): Statement {
  const filter = where.sql ? ` WHERE ${where.sql}` : "";
  const order = orderBy.length > 0 ? ` ORDER BY ${orderBy.join(", ")}` : "";
  return {
    sql: `SELECT * FROM (SELECT * FROM (\n${query}\n) ferry_q${filter}${order}) WHERE ROWNUM <= ?`,
    bindings: [...where.bindings, limit],
  };
}

/**
 * Roles and system privileges that reach past the tables: administering the database (DBA, SYSDBA), other
 * users and their grants, directories (the server's files through UTL_FILE and external tables), jobs
 * and libraries (programs on the server), code run as others, policies bypassed.
 */
export const ORACLE_PRIVILEGES = `SELECT 'role ' || role AS finding FROM session_roles
  WHERE role IN ('DBA', 'PDB_DBA', 'IMP_FULL_DATABASE', 'EXP_FULL_DATABASE', 'DATAPUMP_IMP_FULL_DATABASE',
    'DATAPUMP_EXP_FULL_DATABASE', 'EXECUTE_CATALOG_ROLE', 'SCHEDULER_ADMIN', 'AQ_ADMINISTRATOR_ROLE')
UNION ALL SELECT 'privilege ' || privilege FROM session_privs
  WHERE privilege IN ('SYSDBA', 'SYSOPER', 'SYSBACKUP', 'ALTER SYSTEM', 'ALTER DATABASE', 'CREATE USER', 'ALTER USER', 'DROP USER',
    'BECOME USER', 'GRANT ANY PRIVILEGE', 'GRANT ANY ROLE', 'GRANT ANY OBJECT PRIVILEGE', 'CREATE ANY PROCEDURE',
    'EXECUTE ANY PROCEDURE', 'CREATE ANY DIRECTORY', 'DROP ANY DIRECTORY', 'CREATE ANY JOB', 'CREATE EXTERNAL JOB',
    'CREATE LIBRARY', 'CREATE ANY LIBRARY', 'EXEMPT ACCESS POLICY', 'ADMINISTER DATABASE TRIGGER')
UNION ALL SELECT 'connected AS SYSDBA' FROM dual WHERE SYS_CONTEXT('USERENV', 'ISDBA') = 'TRUE'`;

export const oracle: Dialect = {
  name: "oracle",
  knexConfig: (c, settings) => {
    if (c.tls.mode === "insecure") {
      throw new Error(
        "Oracle's thin driver cannot accept an unverified certificate: give the server's CA as tls.ca instead of tls.mode insecure",
      );
    }
    if (c.tls.ca && path.basename(c.tls.ca) !== "ewallet.pem") {
      throw new Error(
        "Oracle's thin driver reads its CA from a wallet file named ewallet.pem: point tls.ca at that file (a PEM bundle renamed ewallet.pem works)",
      );
    }
    return {
      client: "oracledb",
      connection: {
        user: c.user,
        password: c.password,
        connectString: oracleConnectString(c),
        ...(c.tls.ca ? { walletLocation: path.dirname(c.tls.ca), sslServerDNMatch: true } : {}),
        connectTimeout: Math.ceil(settings.connectTimeout / 1000),
      },
      fetchAsString: [],
      pool: {
        min: 0,
        max: c.poolMax,
        afterCreate: (
          conn: { execute(sql: string): Promise<unknown>; callTimeout: number },
          done: (err: Error | null, c: unknown) => void,
        ) => {
          conn.callTimeout = settings.queryTimeout;
          conn.execute(ORACLE_SESSION).then(() => done(null, conn), (e: Error) => done(e, conn));
        },
      },
      acquireConnectionTimeout: settings.connectTimeout + 5_000,
    };
  },
  quote: doubleQuote,
  page: oraclePage,
  readOnly: { kind: "statement", sql: "SET TRANSACTION READ ONLY" },
  queryOptions: (settings) => ({ fetchTypeHandler: oracleFetchTypeHandler(settings) }),
  rows: (result) => result as Record<string, unknown>[],
  // A break interrupts the call in flight (ORA-01013). Closing a connection waits for its call to end, so
  // there is no disconnect to fall back on.
  cancel: { query: (c) => (c as { break(): Promise<void> }).break() },
  writeAccess: {
    sql: `SELECT privilege AS finding FROM session_privs
      WHERE privilege IN ('INSERT ANY TABLE', 'UPDATE ANY TABLE', 'DELETE ANY TABLE', 'DROP ANY TABLE', 'ALTER ANY TABLE', 'CREATE ANY TABLE', 'CREATE TABLE', 'EXECUTE ANY PROCEDURE')
      UNION ALL SELECT owner || '.' || table_name || ': ' || privilege FROM user_tab_privs
      WHERE grantee = USER AND privilege IN ('INSERT', 'UPDATE', 'DELETE', 'ALTER')
      UNION ALL SELECT 'owns ' || COUNT(*) || ' tables' FROM user_tables HAVING COUNT(*) > 0`,
    findings: (rows) => rows.map((r) => String(r.FINDING ?? r.finding)),
  },
  privileges: { sql: ORACLE_PRIVILEGES, findings: findingColumn },
};
