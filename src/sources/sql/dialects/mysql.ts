/**
 * MySQL and MariaDB through mysql2. Pages run in a `READ ONLY` transaction. The session's time zone is
 * UTC so TIMESTAMP columns (stored as instants) come back in UTC; DATETIME columns (wall clock) are read
 * in the connection's zone, with every digit of their fraction. DECIMAL and BIGINT arrive as strings,
 * BIT(1) as a boolean, JSON as text parsed here without losing a number (exact-json.ts).
 */
import type { FieldPacket } from "mysql2";
import { parseJsonExact } from "../exact-json.ts";
import { wallClockToUtc } from "../zone.ts";
import { type Dialect, knexCancel, limitPage, Read, type ReadSettings } from "./dialect.ts";
import { tlsOptions } from "./postgres.ts";

const TYPE = { TIMESTAMP: 7, DATETIME: 12, BIT: 16, JSON: 245 } as const;

/** MySQL's JSON type, or MariaDB's JSON (a LONGTEXT its extended metadata calls json). */
const isJson = (field: FieldPacket & { extendedFormat?: string }, type: number | undefined) =>
  type === TYPE.JSON || field.extendedFormat === "json";

/** JSON text parsed with its numbers kept; text that is not JSON stays as it is. */
function json(text: string): unknown {
  try {
    return parseJsonExact(text);
  } catch {
    return text;
  }
}

/**
 * The page's rows with DATETIME and TIMESTAMP made canonical (the raw text kept for cursors), BIT(1)
 * made a boolean and JSON parsed. Done per column after the fact, from the result's field list: a
 * per-value `typeCast` would make mysql2 call back for every field of every row, several times slower.
 */
export function mysqlRows(result: unknown, settings: ReadSettings): Record<string, unknown>[] {
  const [rows, fields] = result as [Record<string, unknown>[], FieldPacket[]];
  for (const field of fields ?? []) {
    const type = field.columnType ?? field.type;
    if (isJson(field, type)) {
      for (const row of rows) {
        const text = row[field.name];
        if (typeof text === "string") row[field.name] = json(text);
      }
    } else if (type === TYPE.DATETIME || type === TYPE.TIMESTAMP) {
      const zone = type === TYPE.TIMESTAMP ? "UTC" : settings.zone;
      for (const row of rows) {
        const text = row[field.name];
        if (typeof text === "string") row[field.name] = new Read(text, wallClockToUtc(text, zone) ?? text);
      }
    } else if (type === TYPE.BIT && field.columnLength === 1) {
      for (const row of rows) {
        const bytes = row[field.name];
        if (Buffer.isBuffer(bytes)) row[field.name] = bytes[0] === 1;
      }
    }
  }
  return rows;
}

export const mysql: Dialect = {
  name: "mysql",
  knexConfig: (c, settings) => {
    const ssl = tlsOptions(c.tls);
    return {
      client: "mysql2",
      connection: {
        host: c.host,
        port: c.port ?? 3306,
        database: c.database,
        user: c.user,
        password: c.password,
        ...(ssl === false ? {} : { ssl }),
        connectTimeout: settings.connectTimeout,
        charset: "utf8mb4",
        supportBigNumbers: true,
        bigNumberStrings: true,
        decimalNumbers: false,
        dateStrings: true,
        // mysql2 would parse JSON into doubles (1e400 becomes null): mysqlRows parses it, keeping numbers.
        jsonStrings: true,
      },
      pool: {
        min: 0,
        max: c.poolMax,
        afterCreate: (
          conn: { query(sql: string, cb: (err: Error | null) => void): void },
          done: (err: Error | null, c: unknown) => void,
        ) => {
          conn.query("SET time_zone = '+00:00'", (err) => done(err, conn));
        },
      },
      acquireConnectionTimeout: settings.connectTimeout + 5_000,
    };
  },
  quote: (name) => `\`${name.replaceAll("`", "``")}\``,
  page: limitPage,
  readOnly: { kind: "transaction" },
  rows: mysqlRows,
  // The socket itself: mysql2's end() and destroy() only half-close it, and the statement in flight waits
  // for an answer that never comes; a socket closed under it fails it as PROTOCOL_CONNECTION_LOST.
  cancel: { query: knexCancel, disconnect: (c) => (c as { stream: { destroy(): void } }).stream.destroy() },
  // SHOW GRANTS lists the login's grants, one statement per row, and on MariaDB those of its active roles
  // too (FOR CURRENT_USER() would only name the roles); the source flags those that can write.
  writeAccess: {
    sql: "SHOW GRANTS",
    findings: (rows) => mysqlWriteGrants(rows.map((r) => String(Object.values(r)[0]))),
  },
  privileges: {
    sql: "SHOW GRANTS",
    findings: (rows) => mysqlPrivilegedGrants(rows.map((r) => String(Object.values(r)[0]))),
  },
};

const WRITE_GRANT = /\b(ALL PRIVILEGES|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|INDEX|EXECUTE|FILE|SUPER)\b/;

/** The grants among SHOW GRANTS' lines that let the login write. */
export function mysqlWriteGrants(lines: string[]): string[] {
  return lines.filter((line) => WRITE_GRANT.test(line.replace(/ TO .*$/, "").replace(/^GRANT /, "")));
}

/**
 * Global privileges that reach past the tables: the server's files (FILE: LOAD_FILE, INTO OUTFILE), other
 * sessions (PROCESS sees their statements; SUPER and CONNECTION ADMIN kill them), the server itself
 * (SHUTDOWN, RELOAD, system variables, replication, binary logs) and other logins (CREATE USER, GRANT
 * OPTION, SET USER). MariaDB spells the newer ones with spaces, MySQL 8 with underscores.
 */
const PRIVILEGED = new Set([
  "ALL PRIVILEGES",
  "SUPER",
  "FILE",
  "PROCESS",
  "SHUTDOWN",
  "RELOAD",
  "CREATE USER",
  "GRANT OPTION",
  "BINLOG ADMIN",
  "BINLOG_ADMIN",
  "CONNECTION ADMIN",
  "CONNECTION_ADMIN",
  "FEDERATED ADMIN",
  "READ_ONLY ADMIN",
  "REPLICATION MASTER ADMIN",
  "REPLICATION SLAVE ADMIN",
  "REPLICATION_SLAVE_ADMIN",
  "ROLE_ADMIN",
  "SET USER",
  "SET_USER_ID",
  "SYSTEM_USER",
  "SYSTEM_VARIABLES_ADMIN",
]);

/** The privileged privileges among SHOW GRANTS' lines: those granted ON *.*, in the order they come. */
export function mysqlPrivilegedGrants(lines: string[]): string[] {
  const found = new Set<string>();
  for (const line of lines) {
    const grant = /^GRANT (.+?) ON \*\.\* TO .*?( WITH .*\bGRANT OPTION\b.*)?$/.exec(line);
    if (!grant) continue;
    for (const privilege of grant[1]!.split(/\s*,\s*/)) if (PRIVILEGED.has(privilege.toUpperCase())) found.add(privilege.toUpperCase());
    if (grant[2]) found.add("GRANT OPTION");
  }
  return [...found];
}
