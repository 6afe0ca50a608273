/**
 * `ferry serve`: each job on its cron schedule, never two runs of one job at once (in this process, nor, by
 * the job's run lease, in any other), delivery of what is due again and again, and a clean stop on
 * SIGTERM/SIGINT: the batch in flight commits (or rolls back whole), no new batch starts, what this worker
 * holds is handed back, and the state store is closed.
 *
 * How work reaches the worker depends on the state store. SQLite (one process): node-cron fires the
 * schedules here, and runs and deliveries start at once (local.ts). PostgreSQL (several workers): pg-boss
 * fires each schedule once per cluster and hands each run and delivery to one worker (cluster.ts).
 */
import { type Alerts, createAlerts } from "../alerts/alerts.ts";
import { workerId } from "../cluster/worker.ts";
import type { Project } from "../config/load.ts";
import { locate } from "../config/locate.ts";
import { cronProblem, namesSeconds } from "../config/schedule.ts";
import { ConfigError, describeError } from "../errors.ts";
import { openSource, type RunResult } from "../runner/run-job.ts";
import { startCluster } from "./cluster.ts";
import { startHousekeeping } from "./housekeeping.ts";
import { startLocal } from "./local.ts";
import { type Dispatch, runNow, type ServiceOptions, type ServiceState } from "./work.ts";

export type { ServiceOptions } from "./work.ts";

export interface Service {
  /**
   * Runs a job now in this worker unless it is already running, here or in another process that holds its
   * run lease; resolves when that run (and its delivery) ends.
   */
  trigger(job: string): Promise<RunResult | "already-running">;
  /** Asks for a run of the job: at once here (SQLite state), or of the cluster's queue (PostgreSQL state). */
  request(job: string, reason: string): Promise<void>;
  stop(): Promise<void>;
  readonly running: ReadonlySet<string>;
  /** Whether the service is stopping (SIGTERM received): `/readyz` then says not ready. */
  readonly stopping: boolean;
  /** How work reaches this worker: `local` (SQLite state, node-cron) or `cluster` (PostgreSQL, pg-boss). */
  readonly mode: "local" | "cluster";
}

/**
 * Starts the service. Throws a ConfigError, having started nothing, when a job's schedule cannot be
 * scheduled (the loader refuses such a project; this guards projects built past it); anything else that
 * fails while starting stops what had started before it is thrown.
 */
export async function startService(options: ServiceOptions): Promise<Service> {
  const cluster = options.store.dialect === "postgres";
  checkSchedules(options.project, cluster);
  const state: ServiceState = { options, controller: new AbortController(), running: new Set(), inFlight: new Set() };
  const { project, store, log } = options;
  // Its channels are made first: one that cannot be (a URL that is not one) stops the start, nothing started.
  const alerts = createAlerts({ project, store, log, signal: state.controller.signal, ...options.alerts });
  if (alerts) state.alerts = alerts;
  let dispatch: Dispatch | undefined;
  try {
    dispatch = cluster ? await startCluster(state) : startLocal(state);
    watchFolders(state, dispatch);
    alerts?.start();
  } catch (e) {
    state.controller.abort(new Error("ferry could not start"));
    await dispatch?.stop().catch(() => {});
    await alerts?.stop();
    throw e;
  }
  const started = dispatch;
  const stopHousekeeping = startHousekeeping(state);
  state.controller.signal.addEventListener("abort", stopHousekeeping, { once: true });
  return {
    // Without a reason, a paused schedule does not hold a run back: "paused" cannot come of it.
    trigger: (name) => runNow(state, name) as Promise<RunResult | "already-running">,
    request: (name, reason) => started.request(name, reason),
    running: state.running,
    get stopping() {
      return state.controller.signal.aborted;
    },
    mode: started.mode,
    stop: () => stopService(state, started, alerts),
  };
}

/** Folder jobs ask for a run when a file lands, a moment after the last change seen in the folder. */
function watchFolders(state: ServiceState, dispatch: Dispatch) {
  const { project, log } = state.options;
  for (const [name, job] of project.jobs) {
    const source = openSource(project, job, log, { signal: state.controller.signal });
    if (!source.watch) {
      void source.close();
      continue;
    }
    const kick = debounced(state, () =>
      void dispatch.request(name, "files").catch((e: unknown) => log.error({ job: name, err: describeError(e) }, "run failed")),
    );
    try {
      source.watch(kick, state.controller.signal);
      log.info({ job: name }, "watching for files");
    } catch (e) {
      log.error({ job: name, err: describeError(e) }, "cannot watch this job's folder");
    }
  }
}

/** `fn`, once changes settle: a copy in progress changes a file many times. */
function debounced(state: ServiceState, fn: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  state.controller.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, state.options.watchDebounceMs ?? 250);
  };
}

/**
 * Every job's schedule is one node-cron can schedule, else a ConfigError naming the job's file and line;
 * with several workers, not finer than a minute, the resolution at which pg-boss fires a schedule.
 */
function checkSchedules(project: Project, cluster: boolean) {
  for (const job of project.jobs.values()) {
    const schedule = job.config.schedule;
    if (schedule === undefined) continue;
    const problem =
      cronProblem(schedule) ??
      (cluster && namesSeconds(schedule)
        ? `${JSON.stringify(schedule)} names seconds, but with PostgreSQL state the cluster fires a schedule at most once a minute: use 5 fields (minute hour day-of-month month day-of-week), or SQLite state for one process`
        : undefined);
    if (problem) throw new ConfigError("CONFIG_INVALID", problem, locate(project.dir, job.file, "schedule"));
  }
}

/**
 * No new run; the runs and deliveries in flight end, what the worker holds is handed back, the alerts'
 * evaluation in flight ends (a last one is not made: the runs stopped here are not failures), the
 * destinations close.
 */
async function stopService(state: ServiceState, dispatch: Dispatch, alerts: Alerts | null) {
  state.controller.abort(new Error("ferry is stopping"));
  await dispatch.stop();
  await Promise.allSettled([...state.inFlight]);
  await alerts?.stop();
  for (const d of state.options.destinations.values()) await d.close();
  state.options.log.info(`worker ${workerId()} stopped`);
}
