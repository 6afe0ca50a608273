/**
 * A run as an operator reads it: its accounting, what it opened and queued, where its records went, the
 * files it took, its error with where the error came from, and its rejected rows. One implementation for
 * `ferry runs <id>`, the console's run page and `GET /api/v1/runs/{id}`.
 */
import { ERROR_CODES, type ErrorCode } from "../errors.ts";
import { type FileEntry, filesOfRun } from "../state/files.repo.ts";
import { listRejects, type RejectRow } from "../state/run-rejects.repo.ts";
import { listRunLogs, type RunLogLine } from "../state/run-logs.repo.ts";
import { getRun, type RunFilter, type RunRow } from "../state/runs.repo.ts";
import type { StateStore } from "../state/store.ts";

/** Where an error came from, from its code: the source, a destination, a record, the configuration, or Ferry. */
export interface ErrorOrigin {
  code: string | null;
  origin: "configuration" | "source" | "destination" | "record" | "ferry" | "unknown";
  message: string;
}

/** The origin of a run's recorded error (`CODE: message`). */
export function errorOrigin(error: string | null): ErrorOrigin | null {
  if (!error) return null;
  const m = /^([A-Z][A-Z0-9_]+): ([\s\S]*)$/.exec(error);
  const code = m && m[1]! in ERROR_CODES ? (m[1] as ErrorCode) : null;
  if (!code) return { code: null, origin: "unknown", message: error };
  const blame = ERROR_CODES[code].blame;
  const origin = blame === "undecided" ? "destination" : blame;
  return { code, origin: origin as ErrorOrigin["origin"], message: m![2]! };
}

export interface RunDetail {
  run: RunRow;
  /** read = unchanged + changed + rejected + filtered, as every run's accounting must hold. */
  accounted: boolean;
  error: ErrorOrigin | null;
  /** The run's outbox rows by destination and status: what it queued and what became of it. */
  outbox: { destination: string; status: string; n: number }[];
  /** Conflicts the run opened, by status now. */
  conflicts: { status: string; n: number }[];
  files: FileEntry[];
  rejects: RejectRow[];
  /** Its log lines, info and above, as the process running it wrote them. */
  log: RunLogLine[];
}

/** A run filter from a query string's `job`, `status`, `from`, `to` and `limit` (empty values ignored). */
export function runFilterOf(q: Record<string, string | undefined>): RunFilter {
  const limit = Math.min(Number(q.limit ?? 100) || 100, 1000);
  const f: RunFilter = { limit };
  for (const k of ["job", "status", "from", "to"] as const) if (q[k]) f[k] = q[k];
  return f;
}

export async function runDetail(
  store: StateStore,
  id: number,
  options: { rejectKey?: string; rejectLimit?: number } = {},
): Promise<RunDetail | undefined> {
  const db = store.knex;
  const run = await getRun(db, id);
  if (!run || id === 0) return undefined;
  const count = (rows: unknown[]) => (rows as { n: string | number }[]).map((r) => ({ ...r, n: Number(r.n) }));
  const outbox = count(await db("outbox").where({ run_id: id }).select("destination", "status").count({ n: "*" }).groupBy("destination", "status").orderBy(["destination", "status"]));
  const conflicts = count(await db("conflicts").where({ opened_run: id }).select("status").count({ n: "*" }).groupBy("status").orderBy("status"));
  const files = await filesOfRun(db, id);
  const rejects = await listRejects(db, id, options.rejectLimit ?? 1000, options.rejectKey);
  const accounted = run.read === run.unchanged + run.changed + run.rejected + run.filtered;
  const log = await listRunLogs(db, id);
  return { run, accounted, error: errorOrigin(run.error), outbox: outbox as RunDetail["outbox"], conflicts: conflicts as RunDetail["conflicts"], files, rejects, log };
}
