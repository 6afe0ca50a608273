/**
 * A connection from ferry.yaml with its references resolved: the URL split into fields, the password
 * read, files made absolute. Happens when the source opens, so no credential sits in the loaded config.
 */
import path from "node:path";
import { isSecretReference, resolveReferences } from "../../config/secrets.ts";
import { durationMs } from "../../config/duration.ts";
import { ConfigError, type ConfigLocation } from "../../errors.ts";
import type { ReadSettings, ResolvedConnection } from "./dialects/dialect.ts";
import type { SqlConnection } from "./sql.config.ts";

const SCHEMES: Record<string, readonly string[]> = {
  postgres: ["postgres:", "postgresql:"],
  mysql: ["mysql:", "mariadb:"],
  mssql: ["mssql:", "sqlserver:"],
  oracle: ["oracle:"],
};

export interface ResolveOptions {
  name: string;
  baseDir: string;
  env: NodeJS.ProcessEnv;
}

export function resolveConnection(conn: SqlConnection, { name, baseDir, env }: ResolveOptions): ResolvedConnection {
  const where = (field: string): ConfigLocation => ({ file: "ferry.yaml", path: `connections.${name}.${field}` });
  if (conn.dialect === "sqlite") {
    return { dialect: "sqlite", path: path.resolve(baseDir, conn.path), tls: { mode: "disable" }, poolMax: 1 };
  }
  const resolved: ResolvedConnection = {
    dialect: conn.dialect,
    host: conn.host,
    port: conn.port,
    database: conn.database,
    user: conn.user,
    password: conn.password === undefined ? undefined : resolveReferences(conn.password, { env, baseDir, where: where("password") }),
    tls: {
      mode: conn.tls.mode,
      ca: conn.tls.ca === undefined ? undefined : path.resolve(baseDir, conn.tls.ca),
      serverName: conn.tls.server_name,
    },
    poolMax: conn.pool.max,
  };
  if (conn.dialect === "mssql") {
    resolved.instanceName = conn.instance_name;
    resolved.readOnlyIntent = conn.read_only_intent;
  }
  if (conn.dialect === "oracle") {
    resolved.serviceName = conn.service_name;
    resolved.sid = conn.sid;
    resolved.connectString = conn.connect_string;
  }
  if (conn.url !== undefined) {
    const ctx = { env, baseDir, where: where("url") };
    // A reference inside a URL (its password, say) is percent-encoded, so `@` or `/` in it cannot break it.
    const text = isSecretReference(conn.url)
      ? resolveReferences(conn.url, ctx)
      : conn.url.replace(/\$\{(env|file):[^}]*\}/g, (ref) => encodeURIComponent(resolveReferences(ref, ctx)));
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new ConfigError("CONFIG_BAD_URL", "the connection URL cannot be parsed: expected scheme://user:password@host:port/database", where("url"));
    }
    if (!SCHEMES[conn.dialect]!.includes(url.protocol)) {
      throw new ConfigError(
        "CONFIG_BAD_URL",
        `a ${conn.dialect} URL starts with ${SCHEMES[conn.dialect]!.map((s) => `${s}//`).join(" or ")}, not ${url.protocol}//`,
        where("url"),
      );
    }
    resolved.host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    resolved.port = url.port === "" ? undefined : Number(url.port);
    resolved.user = url.username === "" ? undefined : decodeURIComponent(url.username);
    resolved.password = url.password === "" ? resolved.password : decodeURIComponent(url.password);
    const database = decodeURIComponent(url.pathname.replace(/^\//, ""));
    if (conn.dialect === "oracle") resolved.serviceName = database || undefined;
    else resolved.database = database || undefined;
    for (const [key, value] of url.searchParams) {
      if (conn.dialect === "mssql" && key === "instance") resolved.instanceName = value;
      else {
        throw new ConfigError(
          "CONFIG_BAD_URL",
          `the connection URL's parameter "${key}" is not understood: set TLS, timeouts and pool size as fields of the connection`,
          where("url"),
        );
      }
    }
  }
  if (conn.dialect === "oracle" && resolved.connectString === undefined && resolved.serviceName === undefined && resolved.sid === undefined) {
    throw new ConfigError("CONFIG_ORACLE_NO_SERVICE", "an Oracle connection needs service_name, sid or connect_string", where("service_name"));
  }
  return resolved;
}

export function readSettings(
  conn: SqlConnection,
  source: { trim_char: boolean; max_lob_bytes: number },
): ReadSettings {
  const server = conn.dialect === "sqlite" ? null : conn;
  return {
    zone: conn.time_zone,
    trimChar: source.trim_char,
    maxLobBytes: source.max_lob_bytes,
    connectTimeout: server ? durationMs(server.connect_timeout) : 15_000,
    queryTimeout: server ? durationMs(server.query_timeout) : 600_000,
  };
}
