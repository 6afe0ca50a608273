/**
 * What the rules about jobs observe in the state store (runs, the file ledger), never in a source:
 * `run_failed` and `job_late` per job, `conflicts_opened_above` and `file_failed` as events after their
 * rule's cursor.
 */
import { CronExpressionParser } from "cron-parser";
import type { Project } from "../config/load.ts";
import type { AlertRule } from "../config/project.schema.ts";
import { durationMs } from "../config/duration.ts";
import { scheduleTimeZone } from "../config/schedule.ts";
import { failedFilesAfter, lastFileId } from "../state/files.repo.ts";
import { finishedRunsUpTo, getRun, latestRunOf, type RunRow, type RunStatus, runsWithConflictsAfter } from "../state/runs.repo.ts";
import { getPause } from "../state/schedule-pauses.repo.ts";
import type { Db } from "../state/store.ts";
import { type AlertEvent, type AlertFacts, clip, errorCodeOf, type Observation } from "./decide.ts";

export interface ObserveContext {
  project: Project;
  db: Db;
  now: Date;
  /** When this evaluator started watching: a job that never succeeded is late only for occurrences since. */
  watchingSince: Date;
}

const FAILED: readonly RunStatus[] = ["failed", "refused", "abandoned"];
const SUCCEEDED: readonly RunStatus[] = ["succeeded", "partial"];
/** A run stopped by its process's stop (SIGTERM): neither a failure nor a success; the next run goes on from it. */
const INTERRUPTED = "RUN_INTERRUPTED";

/** The jobs a rule watches: its `jobs:`, else every job of the project. */
export function jobsOf(project: Project, rule: AlertRule): string[] {
  const only = "jobs" in rule ? rule.jobs : undefined;
  return [...project.jobs.keys()].filter((job) => !only || only.includes(job));
}

const runPath = (id: number) => `/runs/${id}`;

/** The facts of a run that failed, was refused or abandoned. */
function failureFacts(run: RunRow): AlertFacts {
  const what = run.status === "refused" ? "was refused" : run.status === "abandoned" ? "was abandoned" : "failed";
  const at = run.finished_at ?? run.started_at;
  const error = run.error ? clip(run.error) : null;
  return {
    summary: `job ${run.job}: run ${run.id} ${what} at ${at}${error ? `: ${error}` : ""}`,
    at,
    job: run.job,
    run_id: run.id,
    error_code: errorCodeOf(run.error),
    error,
    status: run.status,
    console_path: runPath(run.id),
  };
}

/** The facts of a successful run, for a recovery. */
function successFacts(run: RunRow): AlertFacts {
  const at = run.finished_at ?? run.started_at;
  const partial = run.status === "partial" ? ` (${run.rejected} row(s) rejected)` : "";
  return { summary: `job ${run.job}: run ${run.id} succeeded at ${at}${partial}`, at, job: run.job, run_id: run.id, status: run.status, console_path: runPath(run.id) };
}

/** `run_failed`: a job is bad while its latest failure (an interrupted run aside) is newer than its latest success. */
export async function observeRunFailed(ctx: ObserveContext, rule: AlertRule): Promise<Observation[]> {
  const out: Observation[] = [];
  for (const job of jobsOf(ctx.project, rule)) {
    const failed = await latestRunOf(ctx.db, job, FAILED, INTERRUPTED);
    const succeeded = await latestRunOf(ctx.db, job, SUCCEEDED);
    if (failed && (!succeeded || succeeded.id < failed.id)) out.push({ subject: job, state: "bad", facts: failureFacts(failed) });
    else if (succeeded) out.push({ subject: job, state: "good", facts: successFacts(succeeded) });
    else out.push({ subject: job, state: "unknown" });
  }
  return out;
}

/** The latest occurrence of a schedule at or before `at`, in its time zone. */
export function previousOccurrence(schedule: string, timezone: string | undefined, at: Date): Date {
  const expression = CronExpressionParser.parse(schedule, { tz: scheduleTimeZone(timezone), currentDate: new Date(at.valueOf() + 1) });
  return new Date(expression.prev().toISOString()!);
}

/**
 * `job_late`: a scheduled job (not paused) is late when its latest occurrence at least `grace` ago has no
 * successful run finished since. A job that never succeeded is late only for an occurrence that came while
 * this evaluator watched; it is good again once a run succeeds.
 */
export async function observeJobLate(ctx: ObserveContext, rule: AlertRule & { when: "job_late" }): Promise<Observation[]> {
  const graceMs = durationMs(rule.grace);
  const out: Observation[] = [];
  for (const job of jobsOf(ctx.project, rule)) {
    const config = ctx.project.jobs.get(job)!.config;
    if (!config.schedule || (await getPause(ctx.db, job))) continue;
    const due = previousOccurrence(config.schedule, config.timezone, new Date(ctx.now.valueOf() - graceMs));
    const succeeded = await latestRunOf(ctx.db, job, SUCCEEDED);
    const doneAt = succeeded ? (succeeded.finished_at ?? succeeded.started_at) : undefined;
    if (succeeded && doneAt! >= due.toISOString()) {
      out.push({ subject: job, state: "good", facts: successFacts(succeeded) });
    } else if (succeeded || due >= ctx.watchingSince) {
      const zone = scheduleTimeZone(config.timezone);
      const last = await latestRunOf(ctx.db, job, [...FAILED, ...SUCCEEDED]);
      out.push({ subject: job, state: "bad", facts: lateFacts(job, { due, graceMs, schedule: config.schedule, zone, succeeded, last, grace: rule.grace }) });
    } else {
      out.push({ subject: job, state: "unknown" });
    }
  }
  return out;
}

interface Lateness {
  due: Date;
  graceMs: number;
  grace: string;
  schedule: string;
  zone: string;
  succeeded: RunRow | undefined;
  last: RunRow | undefined;
}

function lateFacts(job: string, l: Lateness): AlertFacts {
  const deadline = new Date(l.due.valueOf() + l.graceMs).toISOString();
  const lastSuccess = l.succeeded ? `run ${l.succeeded.id} at ${l.succeeded.finished_at ?? l.succeeded.started_at}` : "none";
  const last = l.last && l.last.id !== l.succeeded?.id ? `; latest run ${l.last.id} ${l.last.status}${l.last.error ? `: ${clip(l.last.error, 300)}` : ""}` : "";
  return {
    summary: `job ${job} is late: no successful run since its occurrence at ${l.due.toISOString()} (schedule "${l.schedule}", ${l.zone}) within ${l.grace}; last successful run: ${lastSuccess}${last}`,
    at: deadline,
    job,
    due_at: l.due.toISOString(),
    run_id: l.last?.id ?? null,
    error_code: l.last && l.last.id !== l.succeeded?.id ? errorCodeOf(l.last.error) : null,
    last_success_at: l.succeeded ? (l.succeeded.finished_at ?? l.succeeded.started_at) : null,
    console_path: l.last ? runPath(l.last.id) : "/jobs",
  };
}

/** Events after a cursor, and where the cursor goes next. */
export interface Events {
  events: AlertEvent[];
  cursor: number;
}

/** `conflicts_opened_above`: finished runs after the cursor that opened more than `threshold` conflicts. */
export async function observeConflicts(ctx: ObserveContext, rule: AlertRule & { when: "conflicts_opened_above" }, cursor: number): Promise<Events> {
  const jobs = new Set(jobsOf(ctx.project, rule));
  const upTo = await finishedRunsUpTo(ctx.db, cursor);
  const found = await runsWithConflictsAfter(ctx.db, cursor, upTo, rule.threshold);
  const events = found.runs.filter((r) => jobs.has(r.job)).map((run) => {
    const at = run.finished_at ?? run.started_at;
    const facts: AlertFacts = {
      summary: `job ${run.job}: run ${run.id} opened ${run.conflicts} conflict(s) at ${at}, more than the threshold of ${rule.threshold}: settle them in the console (/conflicts) or with ferry conflicts`,
      at,
      job: run.job,
      run_id: run.id,
      error_code: errorCodeOf(run.error),
      conflicts: run.conflicts,
      threshold: rule.threshold,
      console_path: runPath(run.id),
    };
    return { subject: run.job, event: `run:${run.id}`, facts };
  });
  return { events, cursor: found.more ? found.runs.at(-1)!.id : upTo };
}

/** `file_failed`: files of the ledger after the cursor that failed, each with its run's error code. */
export async function observeFailedFiles(ctx: ObserveContext, rule: AlertRule, cursor: number): Promise<Events> {
  const jobs = new Set(jobsOf(ctx.project, rule));
  const upTo = await lastFileId(ctx.db);
  const { files, more } = await failedFilesAfter(ctx.db, cursor, upTo);
  const events: AlertEvent[] = [];
  for (const file of files.filter((f) => jobs.has(f.job))) {
    const run = file.runId ? await getRun(ctx.db, file.runId) : undefined;
    const reason = file.reason ? clip(file.reason) : "no reason recorded";
    const facts: AlertFacts = {
      summary: `job ${file.job}: file ${file.name} failed at ${file.processedAt} (moved to failed/): ${reason}`,
      at: file.processedAt,
      job: file.job,
      file: file.name,
      run_id: file.runId ?? null,
      error_code: errorCodeOf(run?.error),
      console_path: file.runId ? runPath(file.runId) : null,
    };
    events.push({ subject: file.job, event: `file:${file.id}`, facts });
  }
  return { events, cursor: more ? files.at(-1)!.id : upTo };
}

/** Where a one-shot rule's cursor starts, at its first evaluation: after what is already there. */
export async function startingCursor(ctx: ObserveContext, rule: AlertRule): Promise<number> {
  return rule.when === "file_failed" ? lastFileId(ctx.db) : finishedRunsUpTo(ctx.db, 0);
}
