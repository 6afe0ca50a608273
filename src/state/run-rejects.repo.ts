/** The rows a run rejected, by line, with the reason: kept for `ferry runs` and a file's report. */
import { type Db, insertChunked } from "./store.ts";

export interface RejectRow {
  line: number;
  key: string | null;
  code: string;
  reason: string;
}

export async function writeRejects(db: Db, runId: number, rejects: readonly RejectRow[]) {
  await insertChunked(
    db,
    "run_rejects",
    rejects.map((r) => ({ run_id: runId, line: r.line, key: r.key, code: r.code, reason: r.reason })),
  );
}

/** A run's rejected rows by line; with `key`, those whose key contains it. */
export async function listRejects(db: Db, runId: number, limit = 1000, key?: string): Promise<RejectRow[]> {
  const q = db("run_rejects").select("line", "key", "code", "reason").where({ run_id: runId }).orderBy("line").limit(limit);
  if (key) q.whereRaw("\"key\" LIKE ? ESCAPE ?", [`%${key.replace(/[\\%_]/g, (c) => `\\${c}`)}%`, "\\"]);
  return q;
}
