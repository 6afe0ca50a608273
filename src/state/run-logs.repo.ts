/** A run's log lines, kept for the console's run page: info and above, as pino wrote them, without secrets. */
import { type Db, insertChunked } from "./store.ts";

export interface RunLogLine {
  run_id: number;
  at: string;
  /** pino's level: 30 info, 40 warn, 50 error, 60 fatal. */
  level: number;
  msg: string;
  /** The line's other fields, as JSON. */
  fields: string | null;
}

export async function appendRunLogs(db: Db, lines: readonly RunLogLine[]): Promise<void> {
  await insertChunked(db, "run_logs", lines as unknown as Record<string, unknown>[]);
}

export async function listRunLogs(db: Db, runId: number, limit = 2000): Promise<RunLogLine[]> {
  const rows = (await db("run_logs").where({ run_id: runId }).orderBy("id").limit(limit)) as RunLogLine[];
  return rows.map((r) => ({ ...r, level: Number(r.level), run_id: Number(r.run_id) }));
}
