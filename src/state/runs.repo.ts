/** Runs and their accounting: what each run read and what became of it. */
import type { Db } from "./store.ts";

export const COUNTERS = [
  "read",
  "unchanged",
  "changed",
  "rejected",
  "filtered",
  "deleted",
  "conflicts",
  "outbox",
] as const;
export type Counter = (typeof COUNTERS)[number];
export type Counts = Record<Counter, number>;

export const zeroCounts = (): Counts => ({
  read: 0,
  unchanged: 0,
  changed: 0,
  rejected: 0,
  filtered: 0,
  deleted: 0,
  conflicts: 0,
  outbox: 0,
});

/** `abandoned`: the process running it stopped without finishing (its committed batches stand). */
export type RunStatus = "running" | "succeeded" | "partial" | "failed" | "refused" | "abandoned";

export interface RunRow extends Counts {
  id: number;
  job: string;
  mode: string;
  status: RunStatus;
  started_at: string;
  finished_at: string | null;
  error: string | null;
}

export async function startRun(db: Db, job: string, mode: string, at: string): Promise<number> {
  const [row] = await db("runs").insert({ job, mode, status: "running", started_at: at }, ["id"]);
  return Number(typeof row === "object" ? (row as { id: number }).id : row);
}

/**
 * A dry run's row, id 0, written inside the transaction the dry run rolls back: what the run writes refers
 * to a run, and none is left behind.
 */
export async function startDryRun(db: Db, job: string, mode: string, at: string) {
  await db("runs").insert({ id: 0, job, mode, status: "running", started_at: at });
}

/** Adds a batch's counts to its run, inside the batch's transaction. */
export async function addCounts(db: Db, runId: number, counts: Counts) {
  const update: Record<string, unknown> = {};
  for (const c of COUNTERS) if (counts[c] !== 0) update[c] = db.raw("?? + ?", [c, counts[c]]);
  if (Object.keys(update).length > 0) await db("runs").where({ id: runId }).update(update);
}

export async function finishRun(
  db: Db,
  runId: number,
  status: RunStatus,
  at: string,
  error: string | null = null,
) {
  await db("runs").where({ id: runId }).update({ status, finished_at: at, error });
}

const fromRaw = (r: RunRow): RunRow => {
  const out = { ...r, id: Number(r.id) };
  for (const c of COUNTERS) out[c] = Number(r[c]);
  return out;
};

export async function getRun(db: Db, id: number): Promise<RunRow | undefined> {
  const r = (await db("runs").where({ id }).first()) as RunRow | undefined;
  return r ? fromRaw(r) : undefined;
}

export interface RunFilter {
  job?: string;
  status?: string;
  /** Started at or after this instant or day (ISO 8601 text, compared as text). */
  from?: string;
  /** Started before this instant, or on or before this day (`YYYY-MM-DD`). */
  to?: string;
  limit?: number;
}

/** Recent runs, newest first. The dry runs' row (id 0) is never listed. */
export async function listRuns(db: Db, filter: RunFilter = {}): Promise<RunRow[]> {
  const q = db("runs")
    .select("*")
    .where("id", ">", 0)
    .orderBy("id", "desc")
    .limit(filter.limit ?? 20);
  if (filter.job) q.where({ job: filter.job });
  if (filter.status) q.where({ status: filter.status });
  if (filter.from) q.where("started_at", ">=", filter.from);
  if (filter.to) q.where("started_at", "<", /^\d{4}-\d{2}-\d{2}$/.test(filter.to) ? `${filter.to}T\uffff` : filter.to);
  return ((await q) as RunRow[]).map(fromRaw);
}

/**
 * Marks the runs of a job still `running` as abandoned: called by the process that has just taken the job's
 * run lease, so whoever ran them is gone. Returns how many there were.
 */
export async function abandonRuns(db: Db, job: string, at: string, reason: string): Promise<number> {
  return db("runs").where({ job, status: "running" }).update({ status: "abandoned", finished_at: at, error: reason });
}

/**
 * The job's latest run (newest id) with one of these statuses, or undefined; with `skipErrorCode`, runs whose
 * error starts with that code (`RUN_INTERRUPTED: ...`) are passed over.
 */
export async function latestRunOf(
  db: Db,
  job: string,
  statuses: readonly RunStatus[],
  skipErrorCode?: string,
): Promise<RunRow | undefined> {
  const q = db("runs").where({ job }).where("id", ">", 0).whereIn("status", statuses).orderBy("id", "desc");
  if (skipErrorCode) q.where((w) => w.whereNull("error").orWhere("error", "not like", `${skipErrorCode}:%`));
  const r = (await q.first()) as RunRow | undefined;
  return r ? fromRaw(r) : undefined;
}

/**
 * Finished runs with ids in (`afterId`, `upTo`] that opened more than `conflicts` conflicts, oldest first, at
 * most `limit` of them (`more`: there may be others after the last).
 */
export async function runsWithConflictsAfter(
  db: Db,
  afterId: number,
  upTo: number,
  conflicts: number,
  limit = 500,
): Promise<{ runs: RunRow[]; more: boolean }> {
  const rows = (await db("runs")
    .where("id", ">", afterId)
    .where("id", "<=", upTo)
    .whereNot({ status: "running" })
    .where("conflicts", ">", conflicts)
    .orderBy("id")
    .limit(limit)) as RunRow[];
  return { runs: rows.map(fromRaw), more: rows.length === limit };
}

/**
 * The last run id up to which every run has finished: just under the first run after `afterId` still
 * running, else the newest run's id (`afterId` when there is none).
 */
export async function finishedRunsUpTo(db: Db, afterId: number): Promise<number> {
  const running = (await db("runs").where("id", ">", afterId).where({ status: "running" }).min({ id: "id" }).first()) as
    | { id: number | string | null }
    | undefined;
  if (running?.id !== null && running?.id !== undefined) return Number(running.id) - 1;
  const newest = (await db("runs").max({ id: "id" }).first()) as { id: number | string | null } | undefined;
  return Math.max(afterId, Number(newest?.id ?? 0));
}
