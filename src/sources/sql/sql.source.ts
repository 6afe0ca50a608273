/**
 * `sql` source: pages through a job's query by key (snapshot) or by (cursor, key) (cursor mode), with the
 * query wrapped as a subquery. The dialect decides the SQL of a page, the driver settings and how values
 * arrive; paging.ts decides which pages to ask for, sql.read.ts reads them, sql.check.ts answers
 * `ferry check`, and sql.client.ts is the only part that talks to the database.
 *
 * This file reads the run's context and the connection's secrets, for all of them.
 */
import { ConfigError } from "../../errors.ts";
import type { Source, SourceContext, SourceDefinition } from "../source.ts";
import { readSettings, resolveConnection } from "./connection.ts";
import type { Dialect } from "./dialects/dialect.ts";
import { dialects } from "./dialects/index.ts";
import { assertReadOnlyQuery, maskSql } from "./read-only.ts";
import { sqlClient } from "./sql.client.ts";
import { checkSql } from "./sql.check.ts";
import { type SqlConnection, sqlConnectionSchema, type SqlSourceConfig, sqlSourceSchema, validateSqlSource } from "./sql.config.ts";
import { readSql, type SqlQuery } from "./sql.read.ts";

/** The job's query as a subquery: without its trailing semicolon (and whatever comments follow it). */
function innerQuery(query: string, dialect: Dialect): string {
  const masked = maskSql(query, dialect.name).trimEnd();
  const body = masked.endsWith(";") ? query.slice(0, masked.length - 1) : query;
  return body.trim();
}

export function createSqlSource(config: SqlSourceConfig, context: SourceContext): Source {
  const conn = context.connections[config.connection] as SqlConnection | undefined;
  if (!conn) {
    throw new ConfigError(
      "CONFIG_UNKNOWN_CONNECTION",
      `no connection named "${config.connection}" in ferry.yaml: \`ferry validate\` lists the connections`,
    );
  }
  const dialect = dialects[conn.dialect];
  assertReadOnlyQuery(config.query, conn.dialect, { file: "job", path: "source.query" });
  const query = innerQuery(config.query, dialect);
  const settings = readSettings(conn, config);
  const client = sqlClient({
    name: config.connection,
    dialect,
    settings,
    log: context.log,
    // Credentials are resolved when the first statement runs, so none sits in the loaded config.
    resolve: () => resolveConnection(conn, { name: config.connection, baseDir: context.baseDir, env: context.env }),
  });
  const sql: SqlQuery = {
    connection: config.connection,
    query,
    dialect,
    client,
    settings,
    fetchSize: config.fetch_size,
    rowversion: config.cursor_type === "rowversion",
    allowPrivilegedLogin: conn.dialect !== "sqlite" && conn.allow_privileged_login,
    log: context.log,
  };
  return {
    describe: `sql ${config.connection} (${conn.dialect})`,
    commitUnit: "batch",
    read: (req) => readSql(sql, req),
    check: (options) => checkSql(sql, options),
    close: () => client.close(),
  };
}

export const sqlSource: SourceDefinition<SqlSourceConfig> = {
  type: "sql",
  configSchema: sqlSourceSchema,
  modes: ["snapshot", "cursor"],
  columnsFrom: "query",
  connectionSchema: sqlConnectionSchema,
  connectionOf: (config) => config.connection,
  validate: validateSqlSource,
  create: createSqlSource,
};
