/**
 * Jobs as an operator sees them: the schedule and its next occurrence, the last run, the run going on now
 * (and the worker holding it), and whether the schedule is paused; pausing and resuming a schedule, audited.
 * One implementation for the console's jobs page and `GET /api/v1/jobs`.
 */
import { CronExpressionParser } from "cron-parser";
import type { Project } from "../config/load.ts";
import { scheduleTimeZone } from "../config/schedule.ts";
import { ConfigError } from "../errors.ts";
import { appendAudit } from "../state/audit.repo.ts";
import { type Lease, listLeases } from "../state/leases.repo.ts";
import { listRuns, type RunRow } from "../state/runs.repo.ts";
import { listPauses, pause, resume, type SchedulePause } from "../state/schedule-pauses.repo.ts";
import type { StateStore } from "../state/store.ts";

export interface JobStatus {
  name: string;
  description: string | null;
  source: string;
  schedule: string | null;
  timezone: string | null;
  next_run_at: string | null;
  paused: SchedulePause | null;
  last_run: Pick<RunRow, "id" | "status" | "started_at" | "finished_at" | "error"> | null;
  running: { worker: string; host: string; pid: number; since: string } | null;
}

/** The next occurrence of a schedule after `now`, or null without one. */
export function nextOccurrence(schedule: string | undefined, timezone: string | undefined, now: Date): string | null {
  if (!schedule) return null;
  try {
    return CronExpressionParser.parse(schedule, { tz: scheduleTimeZone(timezone), currentDate: now }).next().toISOString();
  } catch {
    return null;
  }
}

const pick = ({ worker, host, pid }: Lease) => ({ worker, host, pid });
const lastRun = ({ id, status, started_at, finished_at, error }: RunRow) => ({ id, status, started_at, finished_at, error });

export async function jobStatuses(project: Project, store: StateStore, now = new Date()): Promise<JobStatus[]> {
  const pauses = new Map((await listPauses(store.knex)).map((p) => [p.job, p]));
  const leases = new Map((await listLeases(store.knex)).filter((l) => l.name.startsWith("run:")).map((l) => [l.name.slice(4), l]));
  const out: JobStatus[] = [];
  for (const [name, job] of project.jobs) {
    const [last] = await listRuns(store.knex, { job: name, limit: 1 });
    const lease = leases.get(name);
    const paused = pauses.get(name) ?? null;
    out.push({
      name,
      description: (job.config as { description?: string }).description ?? null,
      source: job.config.source.type,
      schedule: job.config.schedule ?? null,
      timezone: job.config.schedule ? scheduleTimeZone(job.config.timezone) : null,
      next_run_at: paused ? null : nextOccurrence(job.config.schedule, job.config.timezone, now),
      paused,
      last_run: last ? lastRun(last) : null,
      running: lease && lease.expires_at > now.toISOString() ? { ...pick(lease), since: lease.acquired_at } : null,
    });
  }
  return out;
}

export const unknownJob = (project: Project, name: string) =>
  new ConfigError("JOB_UNKNOWN", `no job named ${name}: the project's jobs are ${[...project.jobs.keys()].join(", ") || "none"}`);

/** Pauses or resumes a job's schedule; true when that changed something. Audited. */
export async function setPaused(
  project: Project,
  store: StateStore,
  name: string,
  paused: boolean,
  actor: string,
  now = new Date(),
): Promise<boolean> {
  if (!project.jobs.has(name)) throw unknownJob(project, name);
  const at = now.toISOString();
  return store.knex.transaction(async (tx) => {
    const changed = paused ? await pause(tx, { job: name, paused_by: actor, paused_at: at }) : await resume(tx, name);
    if (changed) await appendAudit(tx, { at, actor, action: paused ? "schedule.pause" : "schedule.resume", details: { job: name } });
    return changed;
  });
}
