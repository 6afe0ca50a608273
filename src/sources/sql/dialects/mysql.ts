/**
 * MySQL and MariaDB through mysql2. Pages run in a `READ ONLY` transaction. The session's time zone is
 * UTC so TIMESTAMP columns (stored as instants) come back in UTC; DATETIME columns (wall clock) are read
 * in the connection's zone. DECIMAL and BIGINT arrive as strings, BIT(1) as a boolean.
 */
import type { FieldPacket } from "mysql2";
import { wallClockToUtc } from "../zone.ts";
import { type Dialect, limitPage, Read, type ReadSettings } from "./dialect.ts";
import { tlsOptions } from "./postgres.ts";

interface TypeCastField {
  type: string;
  length: number;
  string(): string | null;
  buffer(): Buffer | null;
}

export function mysqlTypeCast(settings: ReadSettings) {
  return (field: TypeCastField, next: () => unknown): unknown => {
    if (field.type === "DATETIME" || field.type === "TIMESTAMP") {
      const text = field.string();
      if (text === null) return null;
      return new Read(text, wallClockToUtc(text, field.type === "TIMESTAMP" ? "UTC" : settings.zone) ?? text);
    }
    if (field.type === "BIT" && field.length === 1) {
      const bytes = field.buffer();
      return bytes === null ? null : bytes[0] === 1;
    }
    return next();
  };
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
        typeCast: mysqlTypeCast(settings),
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
  rows: (result) => (result as [Record<string, unknown>[], FieldPacket[]])[0],
  // SHOW GRANTS lists the login's grants, one statement per row; the source flags those that can write.
  writeAccess: {
    sql: "SHOW GRANTS FOR CURRENT_USER()",
    findings: (rows) => mysqlWriteGrants(rows.map((r) => String(Object.values(r)[0]))),
  },
};

const WRITE_GRANT = /\b(ALL PRIVILEGES|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|INDEX|EXECUTE|FILE|SUPER)\b/;

/** The grants among SHOW GRANTS' lines that let the login write. */
export function mysqlWriteGrants(lines: string[]): string[] {
  return lines.filter((line) => WRITE_GRANT.test(line.replace(/ TO .*$/, "").replace(/^GRANT /, "")));
}
