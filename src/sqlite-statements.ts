/**
 * A bounded cache of prepared statements for a better-sqlite3 connection used through knex.
 */
import type BetterSqlite3 from "better-sqlite3";

/**
 * knex has better-sqlite3 prepare every statement it runs, and parsing and planning a statement can cost
 * more than running it. A sync runs the same statements batch after batch (a page of the source, the
 * lookups and writes of the state store), so the connection keeps the last ones it prepared, most recently
 * used last. knex runs a statement to completion (`all` or `run`) before the next, so a kept statement is
 * idle when it is handed out again; one still busy (an unfinished `iterate`) is prepared afresh instead.
 * Statements are tied to their connection, and SQLite prepares them again by itself after a schema change.
 */
export function keepPreparedStatements(conn: BetterSqlite3.Database, size = 64): void {
  const prepare = conn.prepare.bind(conn);
  const kept = new Map<string, BetterSqlite3.Statement>();
  conn.prepare = ((sql: string) => {
    const hit = kept.get(sql);
    if (hit && !hit.busy) {
      kept.delete(sql);
      kept.set(sql, hit);
      return hit;
    }
    const statement = prepare(sql);
    kept.set(sql, statement);
    if (kept.size > size) kept.delete(kept.keys().next().value!);
    return statement;
  }) as BetterSqlite3.Database["prepare"];
}
