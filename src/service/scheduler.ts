/**
 * `ferry serve`: each job on its cron schedule, never two runs of one job at once (in this process, nor, by
 * the job's run lease, in any other), a delivery loop that retries what is due, and a clean stop on
 * SIGTERM/SIGINT: the batch in flight commits (or rolls back whole), no new batch starts, and the state
 * store is closed.
 */
import cron, { type ScheduledTask } from "node-cron";
import { locate, type Project } from "../config/load.ts";
import { cronProblem } from "../config/schedule.ts";
import { sleep } from "../sleep.ts";
import { deliverAll } from "../delivery/deliver.ts";
import type { Destination } from "../destinations/destination.ts";
import { ConfigError, describeError, FerryError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { openSource, type RunResult, runJob } from "../runner/run-job.ts";
import { leaseExpiryMs } from "../cluster/lease.ts";
import { withRunLease } from "../runner/run-lease.ts";
import type { StateStore } from "../state/store.ts";

export interface ServiceOptions {
  project: Project;
  store: StateStore;
  destinations: Map<string, Destination>;
  log: Logger;
  /** How often the delivery loop looks for due outbox rows. */
  deliveryIntervalMs?: number;
  onRun?: (result: RunResult) => void;
  /** Folder jobs: how long after the last change seen in the folder a run starts (default 250 ms). */
  watchDebounceMs?: number;
}

export interface Service {
  /**
   * Runs a job now unless it is already running, here or in another process that holds its run lease;
   * resolves when that run (and its delivery) ends.
   */
  trigger(job: string): Promise<RunResult | "already-running">;
  stop(): Promise<void>;
  readonly running: ReadonlySet<string>;
}

/** What the parts of a running service share. */
interface ServiceState {
  options: ServiceOptions;
  controller: AbortController;
  /** Jobs with a run in progress. */
  running: Set<string>;
  /** Runs and deliveries that a stop waits for. */
  inFlight: Set<Promise<unknown>>;
  /** Folder jobs whose folder changed during their run. */
  again: Set<string>;
  /** Folder jobs: starts a run a moment after the last change seen. */
  kickers: Map<string, () => void>;
}

/**
 * Starts the service. Throws a ConfigError, having started nothing, when a job's schedule cannot be
 * scheduled (the loader refuses such a project; this guards projects built past it); anything else that
 * fails while starting stops what had started before it is thrown.
 */
export function startService(options: ServiceOptions): Service {
  checkSchedules(options.project);
  const state: ServiceState = {
    options,
    controller: new AbortController(),
    running: new Set(),
    inFlight: new Set(),
    again: new Set(),
    kickers: new Map(),
  };
  const tasks: ScheduledTask[] = [];
  try {
    watchFolders(state);
    scheduleJobs(state, tasks);
  } catch (e) {
    state.controller.abort(new Error("ferry could not start"));
    for (const t of tasks) void Promise.resolve(t.destroy()).catch(() => {});
    throw e;
  }
  const loop = deliveryLoop(state);
  return {
    trigger: (name) => runNow(state, name),
    running: state.running,
    stop: () => stopService(state, tasks, loop),
  };
}

const track = <T>(state: ServiceState, p: Promise<T>): Promise<T> => {
  state.inFlight.add(p);
  p.finally(() => state.inFlight.delete(p)).catch(() => {});
  return p;
};

const deliver = ({ options, controller }: ServiceState) =>
  deliverAll(options.project, options.store, options.destinations, {
    log: options.log,
    signal: controller.signal,
  }).catch((e) => options.log.error({ err: describeError(e) }, "delivery failed"));

async function runNow(state: ServiceState, name: string): Promise<RunResult | "already-running"> {
  const { project, store, log } = state.options;
  const { controller, running } = state;
  const job = project.jobs.get(name);
  if (!job) throw new Error(`no job named ${name}`);
  if (running.has(name)) {
    log.warn({ job: name }, "skipped: the previous run of this job is still going");
    return "already-running";
  }
  if (controller.signal.aborted) return "already-running";
  running.add(name);
  try {
    // The whole of it is waited for by a stop: the lease is released before the store closes.
    return await track(
      state,
      withRunLease(store, name, { log, expiryMs: leaseExpiryMs(project) }, async (lease) => {
        const signal = AbortSignal.any([controller.signal, lease.signal]);
        const result = await track(state, runJob(project, job, store, { log, signal }));
        state.options.onRun?.(result);
        if (!controller.signal.aborted) await track(state, deliver(state));
        return result;
      }),
    );
  } catch (e) {
    // Another process (a `ferry run`, another worker) runs the job: this tick is skipped, as an overlap is.
    if (!(e instanceof FerryError && e.code === "RUN_LEASE_HELD")) throw e;
    log.warn({ job: name, ...e.details }, `skipped: ${e.message}`);
    return "already-running";
  } finally {
    running.delete(name);
    // Files that arrived during the run are taken by another.
    if (state.again.delete(name) && !controller.signal.aborted) state.kickers.get(name)?.();
  }
}

// Folder jobs run when a file lands, a moment after the last change seen (a copy in progress
// changes the file many times); the run itself still waits for the file to be complete.
function watchFolders(state: ServiceState) {
  const { project, log } = state.options;
  for (const [name, job] of project.jobs) {
    const source = openSource(project, job, log, { signal: state.controller.signal });
    if (!source.watch) {
      void source.close();
      continue;
    }
    const kick = debouncedRun(state, name);
    state.kickers.set(name, kick);
    try {
      source.watch(kick, state.controller.signal);
      log.info({ job: name }, "watching for files");
    } catch (e) {
      log.error({ job: name, err: describeError(e) }, "cannot watch this job's folder");
    }
  }
}

/** A kick for a folder job: runs it once the changes settle, or after its current run if one is going. */
function debouncedRun(state: ServiceState, name: string): () => void {
  const { log, watchDebounceMs } = state.options;
  let timer: NodeJS.Timeout | undefined;
  state.controller.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  return () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (state.running.has(name)) {
        state.again.add(name);
        return;
      }
      void runNow(state, name).catch((e) => log.error({ job: name, err: describeError(e) }, "run failed"));
    }, watchDebounceMs ?? 250);
  };
}

/** Every job's schedule is one node-cron can schedule, else a ConfigError naming the job's file and line. */
function checkSchedules(project: Project) {
  for (const job of project.jobs.values()) {
    const problem = job.config.schedule === undefined ? undefined : cronProblem(job.config.schedule);
    if (problem) throw new ConfigError("CONFIG_INVALID", problem, locate(project.dir, job.file, "schedule"));
  }
}

function scheduleJobs(state: ServiceState, tasks: ScheduledTask[]) {
  const { project, log } = state.options;
  for (const [name, job] of project.jobs) {
    if (!job.config.schedule) continue;
    tasks.push(
      cron.schedule(
        job.config.schedule,
        () => void runNow(state, name).catch((e) => log.error({ job: name, err: describeError(e) }, "run failed")),
        {
          name,
        },
      ),
    );
    log.info({ job: name, schedule: job.config.schedule }, "scheduled");
  }
}

/** Delivers what is due, again and again, until the service stops. */
async function deliveryLoop(state: ServiceState) {
  const interval = state.options.deliveryIntervalMs ?? 15_000;
  while (!state.controller.signal.aborted) {
    await deliver(state);
    await sleep(interval, state.controller.signal).catch(() => {});
  }
}

/** No new run; the runs and deliveries in flight end, then the destinations close. */
async function stopService(state: ServiceState, tasks: readonly ScheduledTask[], loop: Promise<void>) {
  for (const t of tasks) await t.destroy();
  state.controller.abort(new Error("ferry is stopping"));
  await Promise.allSettled([...state.inFlight, loop]);
  for (const d of state.options.destinations.values()) await d.close();
}
