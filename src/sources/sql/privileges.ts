/**
 * Whether the `sql` source's login holds more than reading needs: a superuser, or a role or privilege that
 * lets a SELECT reach past the tables (the server's files and programs, other sessions, other logins). The
 * read-only transaction does not stop those (`SELECT lo_export(...)`, `SELECT pg_terminate_backend(...)`
 * run in one), so a run refuses such a login unless its connection says `allow_privileged_login: true`.
 * Asked once per read, through the same read-only path as every page.
 */
import { ConfigError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { Dialect } from "./dialects/dialect.ts";
import type { SqlClient } from "./sql.client.ts";

/** What asking needs of the source (its SqlQuery). */
export interface LoginContext {
  /** The connection's name in ferry.yaml. */
  connection: string;
  dialect: Dialect;
  client: SqlClient;
  /** The connection's allow_privileged_login. */
  allowPrivilegedLogin: boolean;
  log: Logger;
}

/** What the login holds beyond reading, as its dialect asks; none for a dialect without logins (SQLite). */
export async function loginPrivileges(sql: LoginContext, signal: AbortSignal): Promise<string[]> {
  const question = sql.dialect.privileges;
  if (!question) return [];
  return question.findings(await sql.client.run({ sql: question.sql, bindings: [] }, signal));
}

const REACH =
  "through a SELECT it could reach past the tables (the server's files or programs, other sessions, other logins), which the read-only transaction does not prevent";

/** `ferry check`'s warning about a privileged login, saying what a run does with it. */
export function privilegedWarning(sql: LoginContext, found: string[]): string {
  const run = sql.allowPrivilegedLogin
    ? "ferry run reads through it all the same, as the connection sets allow_privileged_login: true"
    : "ferry run refuses it unless the connection sets allow_privileged_login: true";
  return `the login is privileged: ${found.join(", ")}; ${REACH}. ${run}. Give Ferry a login that can only SELECT`;
}

/**
 * Before a read: refuses a privileged login (a ConfigError naming the connection, what it holds and how to
 * fix it), or, when the connection allows it, logs a warning. A database that cannot answer the question
 * (an old version, a catalog the login may not read) is logged and the read goes on; an unreachable one
 * fails as it would on the first page.
 */
export async function guardLogin(sql: LoginContext, signal: AbortSignal): Promise<void> {
  let found: string[];
  try {
    found = await loginPrivileges(sql, signal);
  } catch (e) {
    if (!(e instanceof ConfigError) || e.code !== "SOURCE_SQL_QUERY_FAILED") throw e;
    sql.log.warn({ connection: sql.connection, err: e.message }, "could not ask the database whether the login is privileged");
    return;
  }
  if (found.length === 0) return;
  if (sql.allowPrivilegedLogin) {
    sql.log.warn({ connection: sql.connection }, `privileged login allowed by allow_privileged_login: ${found.join(", ")}`);
    return;
  }
  throw new ConfigError(
    "SOURCE_SQL_PRIVILEGED_LOGIN",
    `the login of connection ${sql.connection} is privileged: ${found.join(", ")}; ${REACH}, so Ferry will not read through it. Give Ferry a login that can only SELECT (ferry check <job> shows what a login holds), or accept the risk with allow_privileged_login: true on the connection`,
    { file: "ferry.yaml", path: `connections.${sql.connection}` },
  );
}
