/**
 * `connections:` in ferry.yaml (one per legacy database, named by jobs) and the `sql` source of a job.
 * Credentials are references (`${env:NAME}`, `${file:PATH}`); a URL may embed one but never a literal
 * password. Connections stay unresolved until the source opens them.
 */
import { z } from "zod";
import { durationSchema as duration } from "../../config/duration.ts";
import type { ValidateContext } from "../../config/connector.ts";
import { isSecretReference, secretRef } from "../../config/secrets.ts";
import { ConfigError } from "../../errors.ts";
import { assertReadOnlyQuery } from "./read-only.ts";

const zone = z
  .string()
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, "expected an IANA time zone such as UTC, Europe/Paris or America/New_York")
  .default("UTC")
  .describe(
    "The zone of date-times stored without one (DATETIME, TIMESTAMP WITHOUT TIME ZONE, Oracle DATE). Ferry stores every date-time as ISO 8601 UTC.",
  );

const url = z
  .string()
  .min(1)
  .refine((value) => {
    // What remains once references are taken out must not carry a password of its own.
    const literal = value.replace(/\$\{(env|file):[^}]*\}/g, "x");
    if (isSecretReference(value) || !URL.canParse(literal)) return true;
    return new URL(literal).password === "" || /:\$\{(env|file):[^}]*\}@/.test(value);
  }, "a literal password in a URL is not allowed: write the URL as ${env:NAME}, or its password as ${env:NAME}")
  .describe("Connection URL, e.g. ${env:ERP_URL} or postgres://ferry:${env:ERP_PASSWORD}@erp-db:5432/erp.")
  // A URL may hold a credential: it stays a reference until the source opens the connection.
  .meta({ writeOnly: true });

const tls = z
  .strictObject({
    mode: z
      .enum(["verify", "insecure", "disable"])
      .default("verify")
      .describe(
        "verify: encrypted, the server's certificate checked (default). insecure: encrypted but any certificate accepted, for self-signed legacy servers; logged as a warning on every run. disable: no encryption; logged as a warning on every run.",
      ),
    ca: z.string().min(1).optional().describe("A PEM file of the CA that signed the server's certificate, relative to ferry.yaml."),
    server_name: z.string().min(1).optional().describe("The name the certificate must carry, when it is not the host."),
  })
  .default({ mode: "verify" });

const common = {
  url: url.optional(),
  host: z.string().min(1).optional().describe("Server host name or address."),
  port: z.number().int().min(1).max(65_535).optional().describe("Server port (default: the dialect's)."),
  database: z.string().min(1).optional().describe("Database name."),
  user: z.string().min(1).optional().describe("Login. Give Ferry a login that can only SELECT."),
  password: secretRef.optional(),
  tls,
  pool: z
    .strictObject({ max: z.number().int().min(1).max(32).default(2).describe("Connections at most.") })
    .default({ max: 2 }),
  connect_timeout: duration("Give up connecting after this long.", "15s"),
  query_timeout: duration("Give up on one page of a query after this long; the run fails and can be retried.", "10m"),
  time_zone: zone,
  allow_privileged_login: z
    .boolean()
    .default(false)
    .describe(
      "A RISK: let `ferry run` read through a login that holds more than reading needs (a PostgreSQL superuser or pg_write_server_files, MySQL SUPER, FILE or PROCESS, SQL Server sysadmin or db_owner, Oracle DBA...). Through a SELECT such a login can write files on the server, run programs there or end other sessions, which no read-only transaction prevents. Default false: the run is refused; give Ferry a login that can only SELECT instead.",
    ),
};

function fieldsOrUrl(c: { url?: string; host?: string }, ctx: z.RefinementCtx, extra = false) {
  if (c.url !== undefined && (c.host !== undefined || extra)) {
    ctx.addIssue({ code: "custom", path: ["url"], message: "give either `url` or the connection fields, not both" });
  }
  if (c.url === undefined && c.host === undefined && !extra) {
    ctx.addIssue({ code: "custom", path: ["host"], message: "give `url`, or `host` with `database` and `user`" });
  }
}

export const sqliteConnectionSchema = z.strictObject({
  dialect: z.literal("sqlite"),
  path: z.string().min(1).describe("Path of the SQLite database file, relative to ferry.yaml. Opened read-only."),
  time_zone: z
    .literal("UTC", {
      error:
        "SQLite has no date-time type, so Ferry cannot tell a local date-time from text: store date-times in UTC, or convert them to UTC in the query",
    })
    .default("UTC")
    .describe("SQLite date-times are text, read as UTC."),
});

export const postgresConnectionSchema = z
  .strictObject({ dialect: z.literal("postgres"), ...common })
  .superRefine((c, ctx) => fieldsOrUrl(c, ctx));

export const mysqlConnectionSchema = z
  .strictObject({ dialect: z.literal("mysql"), ...common })
  .superRefine((c, ctx) => fieldsOrUrl(c, ctx));

export const mssqlConnectionSchema = z
  .strictObject({
    dialect: z.literal("mssql"),
    ...common,
    url: url
      .optional()
      .describe("mssql://user:${env:PASSWORD}@host:1433/database?instance=NAME (instance, when given, replaces the port)."),
    instance_name: z.string().min(1).optional().describe("A named instance (SQLEXPRESS...), found through the SQL Browser service."),
    read_only_intent: z
      .boolean()
      .default(true)
      .describe("Connect with ApplicationIntent=ReadOnly: routed to a readable secondary where there is one. A routing hint, not a guarantee."),
  })
  .superRefine((c, ctx) => fieldsOrUrl(c, ctx));

export const oracleConnectionSchema = z
  .strictObject({
    dialect: z.literal("oracle"),
    ...common,
    url: url
      .optional()
      .describe("oracle://user:${env:PASSWORD}@host:1521/SERVICE_NAME."),
    service_name: z.string().min(1).optional().describe("The database service (Easy Connect host:port/service_name)."),
    sid: z.string().min(1).optional().describe("A legacy SID, when the database has no service name."),
    connect_string: z
      .string()
      .min(1)
      .optional()
      .describe("A full connect descriptor instead of host/port/service: (DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=...)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=...)))."),
  })
  .superRefine((c, ctx) => {
    fieldsOrUrl(c, ctx, c.connect_string !== undefined);
    if (c.connect_string !== undefined && c.host !== undefined) {
      ctx.addIssue({ code: "custom", path: ["connect_string"], message: "give either `connect_string` or `host`, not both" });
    }
    if (c.service_name !== undefined && c.sid !== undefined) {
      ctx.addIssue({ code: "custom", path: ["sid"], message: "give either `service_name` or `sid`, not both" });
    }
  });

/** A database connection, declared once in ferry.yaml under `connections:` and named by jobs. */
export const sqlConnectionSchema = z.discriminatedUnion("dialect", [
  sqliteConnectionSchema,
  postgresConnectionSchema,
  mysqlConnectionSchema,
  mssqlConnectionSchema,
  oracleConnectionSchema,
]);

export const sqlSourceSchema = z.strictObject({
  type: z.literal("sql"),
  connection: z.string().min(1).describe("Name of a connection in ferry.yaml."),
  query: z
    .string()
    .min(1)
    .describe(
      "One SELECT or WITH statement, without ORDER BY: Ferry pages through it by key (snapshot) or by cursor and key.",
    ),
  fetch_size: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .optional()
    .describe("Rows per query page (default: 10 000, or the batch size when larger). Memory grows with it, never with the table."),
  cursor_type: z
    .enum(["auto", "rowversion"])
    .default("auto")
    .describe("rowversion: the cursor column is an MSSQL rowversion/timestamp (binary(8)), kept as hex."),
  trim_char: z
    .boolean()
    .default(false)
    .describe("Remove the trailing spaces fixed-width CHAR/NCHAR columns are padded with."),
  max_lob_bytes: z
    .number()
    .int()
    .min(1)
    .default(10 * 1024 * 1024)
    .describe("A text or binary value larger than this is refused (its record rejected) instead of held in memory."),
});

export type SqlConnection = z.output<typeof sqlConnectionSchema>;
export type SqliteConnection = z.output<typeof sqliteConnectionSchema>;
export type PostgresConnection = z.output<typeof postgresConnectionSchema>;
export type MysqlConnection = z.output<typeof mysqlConnectionSchema>;
export type MssqlConnection = z.output<typeof mssqlConnectionSchema>;
export type OracleConnection = z.output<typeof oracleConnectionSchema>;
export type ServerConnection = PostgresConnection | MysqlConnection | MssqlConnection | OracleConnection;
export type SqlSourceConfig = z.output<typeof sqlSourceSchema>;

/**
 * The checks of an sql source that need the project: its connection is declared, and its query only
 * reads (refused here too, so `ferry validate` finds a writing query with its file and line).
 */
export function validateSqlSource(config: SqlSourceConfig, context: ValidateContext): ConfigError[] {
  const connection = context.project.connections[config.connection] as SqlConnection | undefined;
  if (!connection) {
    const names = Object.keys(context.project.connections).join(", ") || "(none)";
    return [
      new ConfigError(
        "CONFIG_UNKNOWN_CONNECTION",
        `no connection named "${config.connection}" in ferry.yaml: the connections are ${names}`,
        context.at("connection"),
      ),
    ];
  }
  try {
    assertReadOnlyQuery(config.query, connection.dialect, context.at("query"));
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return [e];
    throw e;
  }
}
