/**
 * What differs between the databases the `sql` source reads: how to connect (driver settings through
 * knex), how to write a page of a query, how to make the read read-only, how values arrive, and how to ask
 * whether the login could write. One file per dialect; everything else in the source is shared.
 */
import type { Knex } from "knex";
import type { SqlDialectName } from "../read-only.ts";

export type { SqlDialectName };

/**
 * A value as the database gave it (`raw`, bound back as-is when it is a cursor, so the database compares
 * like with like) and its canonical form (`value`: ISO 8601 UTC for date-times, exact strings for decimals).
 */
export class Read {
  readonly raw: unknown;
  readonly value: unknown;
  constructor(raw: unknown, value: unknown) {
    this.raw = raw;
    this.value = value;
  }
}

/** A value Ferry cannot take without losing part of it; its record is rejected with this reason. */
export class Refused {
  readonly reason: string;
  constructor(reason: string) {
    this.reason = reason;
  }
}

/** How values are read on this connection, from the connection's and the job's settings. */
export interface ReadSettings {
  /** IANA zone of date-times stored without one. */
  zone: string;
  /** Remove CHAR padding. */
  trimChar: boolean;
  /** Larger text or binary values are refused. */
  maxLobBytes: number;
  /** Milliseconds. */
  connectTimeout: number;
  /** Milliseconds, per page. */
  queryTimeout: number;
}

/** A statement and its bindings, in knex's `?` placeholder form. */
export interface Statement {
  sql: string;
  bindings: unknown[];
}

/** One page of the job's query: the rows matching `where`, in `orderBy` order, `limit` at most. */
export interface PageRequest {
  /** The job's query, without a trailing semicolon. */
  query: string;
  where: Statement;
  /** Quoted column names; none for an unordered read. */
  orderBy: string[];
  limit: number;
}

export interface Dialect {
  readonly name: SqlDialectName;
  /** Driver settings for a connection; pure, so tests can check them without a server. */
  knexConfig(connection: ResolvedConnection, settings: ReadSettings): Knex.Config;
  quote(identifier: string): string;
  page(request: PageRequest): Statement;
  /**
   * How a page runs read-only: `transaction` in a knex read-only transaction, `statement` in a transaction
   * opened by the given statement, `none` where the dialect has no read-only transaction (the connection
   * itself is read-only, or, for SQL Server, only the login's permissions protect the source).
   */
  readonly readOnly: { kind: "transaction" } | { kind: "statement"; sql: string } | { kind: "none"; why: string };
  /** Options for knex's `raw().options()` on every page (Oracle's fetch type handler). */
  queryOptions?(settings: ReadSettings): Record<string, unknown>;
  /** The rows of a `knex.raw` result (each driver shapes it differently), values as the source expects. */
  rows(result: unknown, settings: ReadSettings): Record<string, unknown>[];
  /** How to ask what the login could write. Null: the dialect cannot ask. */
  readonly writeAccess: LoginQuestion | null;
  /**
   * How to ask what the login holds that reaches past the database's tables: superuser, and the roles and
   * privileges that let a SELECT write or read the server's files, run programs on it, or end or watch
   * other sessions. Null where there is no login (SQLite).
   */
  readonly privileges: LoginQuestion | null;
  /** A cursor position stored in a checkpoint, as the driver must bind it (rowversion hex to bytes). */
  bindCursor?(value: string | number): unknown;
  /**
   * How a statement in flight is stopped from outside it, when the run's abort signal fires. `query` asks
   * the server to cancel the statement running on `connection` (a driver connection of knex's pool), and
   * resolves once asked; `disconnect`, when asking fails or is not heard, drops the connection under the
   * statement. Absent where nothing can run beside a statement (SQLite).
   */
  readonly cancel?: {
    query(connection: unknown, knex: Knex): Promise<void>;
    disconnect?(connection: unknown): void;
  };
}

/**
 * knex's own cancel, the one `.timeout(ms, { cancel: true })` uses: a new connection with the same login
 * asks the server to stop the statement (PostgreSQL `pg_cancel_backend`, MySQL `KILL QUERY`), which any
 * login may do to its own sessions.
 */
export async function knexCancel(connection: unknown, knex: Knex): Promise<void> {
  await (knex.client as { cancelQuery(connection: unknown): Promise<unknown> }).cancelQuery(connection);
}

/** A question about the login: a query, and what its rows say (one finding each, none when all is well). */
export interface LoginQuestion {
  sql: string;
  findings(rows: Record<string, unknown>[]): string[];
}

/** The `finding` column of each row (Oracle names it in capitals). */
export const findingColumn = (rows: Record<string, unknown>[]) => rows.map((r) => String(r.finding ?? r.FINDING));

/** A connection with its credentials resolved, as dialects receive it. */
export interface ResolvedConnection {
  dialect: SqlDialectName;
  /** SQLite: the database file, absolute. */
  path?: string;
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  tls: { mode: "verify" | "insecure" | "disable"; ca?: string; serverName?: string };
  poolMax: number;
  /** MSSQL */
  instanceName?: string;
  readOnlyIntent?: boolean;
  /** Oracle */
  serviceName?: string;
  sid?: string;
  connectString?: string;
}

/** Generic `SELECT * FROM (query) AS ferry_q WHERE ... ORDER BY ... LIMIT ?` (SQLite, PostgreSQL, MySQL). */
export function limitPage({ query, where, orderBy, limit }: PageRequest): Statement {
  const order = orderBy.length > 0 ? ` ORDER BY ${orderBy.join(", ")}` : "";
  return {
    sql: `SELECT * FROM (\n${query}\n) AS ferry_q${where.sql ? ` WHERE ${where.sql}` : ""}${order} LIMIT ?`,
    bindings: [...where.bindings, limit],
  };
}

/** `"name"` with embedded quotes doubled. */
export const doubleQuote = (name: string) => `"${name.replaceAll("\"", "\"\"")}"`;

/** A canonical decimal from a driver's number, or a refusal when the float cannot hold it exactly. */
export function exactDecimal(n: number, scale: number, column: string): string | Refused {
  // A double holds 15 significant decimal digits exactly: below that the shortest round-trip form of the
  // float is the stored decimal.
  const whole = Math.trunc(Math.abs(n));
  const digits = (whole === 0 ? 0 : whole >= 1e15 ? 16 : whole.toString().length) + scale;
  if (!Number.isFinite(n) || digits > 15) {
    return new Refused(
      `column ${column} holds a decimal the driver returns as a float, which cannot carry its ${digits} digits exactly: cast it to text in the query, e.g. CAST(${column} AS VARCHAR(40))`,
    );
  }
  return n.toFixed(scale);
}
