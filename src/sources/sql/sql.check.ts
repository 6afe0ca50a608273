/**
 * `ferry check` on a `sql` source: reads a few rows of the job's query the way a run reads them, says how
 * reads are kept read-only, and asks the database what the login could write and whether it is privileged.
 */
import type { SourceCheck } from "../source.ts";
import { canonicalRow } from "./canonical.ts";
import { loginPrivileges, privilegedWarning } from "./privileges.ts";
import type { Row } from "./sql.client.ts";
import type { SqlQuery } from "./sql.read.ts";

export async function checkSql(sql: SqlQuery, { limit, signal }: { limit: number; signal: AbortSignal }): Promise<SourceCheck> {
  const { dialect, client } = sql;
  const notes: string[] = [];
  const warnings: string[] = [];
  const ro = dialect.readOnly;
  notes.push(
    ro.kind === "none"
      ? `read-only: ${ro.why}`
      : `read-only: every page runs in a read-only transaction (${ro.kind === "statement" ? ro.sql : "START TRANSACTION READ ONLY"})`,
  );
  const rows = await client.run(dialect.page({ query: sql.query, where: { sql: "", bindings: [] }, orderBy: [], limit }), signal);
  if (dialect.writeAccess) {
    let findings: string[];
    try {
      // Through the same read-only path as every page: Ferry's own questions are reads too.
      findings = dialect.writeAccess.findings(await client.run({ sql: dialect.writeAccess.sql, bindings: [] }, signal));
    } catch (e) {
      findings = [];
      warnings.push(`could not ask the database what this login may write: ${(e as Error).message}`);
    }
    if (findings.length > 0) {
      warnings.push(
        `the login can write to the database; give Ferry a login that can only SELECT. It holds: ${findings.slice(0, 20).join("; ")}${findings.length > 20 ? ` (and ${findings.length - 20} more)` : ""}`,
      );
    } else if (warnings.length === 0) {
      notes.push("the login holds no write privilege Ferry could find");
    }
  }
  if (dialect.privileges) await checkPrivileges(sql, signal, notes, warnings);
  const values: Row[] = [];
  for (const row of rows) {
    const canonical = canonicalRow(row, sql.settings.maxLobBytes);
    if ("refused" in canonical) warnings.push(canonical.refused);
    else values.push(canonical.values);
  }
  return { columns: Object.keys(rows[0] ?? {}), rows: values, notes, warnings };
}

/** Whether the login holds more than reading needs: a warning naming what it holds, or a note that it does not. */
async function checkPrivileges(sql: SqlQuery, signal: AbortSignal, notes: string[], warnings: string[]) {
  let found: string[];
  try {
    found = await loginPrivileges(sql, signal);
  } catch (e) {
    warnings.push(`could not ask the database whether this login is privileged: ${(e as Error).message}`);
    return;
  }
  if (found.length > 0) warnings.push(privilegedWarning(sql, found));
  else notes.push("the login holds no privilege beyond its tables Ferry could find (superuser, server files, other sessions)");
}
