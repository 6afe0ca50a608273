/**
 * What a worker does, however the work reaches it (local.ts, cluster.ts): a job's run under its run lease,
 * and a delivery pass; both tracked, so that a stop waits for them.
 */
import type { AlertsOptions } from "../alerts/alerts.ts";
import { leaseExpiryMs } from "../cluster/lease.ts";
import type { Project } from "../config/load.ts";
import { deliverAll } from "../delivery/deliver.ts";
import type { Destination } from "../destinations/destination.ts";
import { describeError, FerryError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { type RunResult, runJob } from "../runner/run-job.ts";
import { withRunLease } from "../runner/run-lease.ts";
import { getPause } from "../state/schedule-pauses.repo.ts";
import { m } from "../metrics.ts";
import type { DeliveryTally } from "../delivery/deliver.ts";
import type { StateStore } from "../state/store.ts";

export interface ServiceOptions {
  project: Project;
  store: StateStore;
  destinations: Map<string, Destination>;
  log: Logger;
  /** How often delivery looks for due outbox rows (default ferry.yaml's `serve.delivery_every`). */
  deliveryIntervalMs?: number;
  onRun?: (result: RunResult) => void;
  /** Folder jobs: how long after the last change seen in the folder a run starts (default 250 ms). */
  watchDebounceMs?: number;
  /** The alerts' clock, check interval and retries (default: the system's clock, `alerts.check_every`, 3 tries). */
  alerts?: Pick<AlertsOptions, "now" | "checkEveryMs" | "retry" | "holder">;
}

/** What the parts of a running service share. */
export interface ServiceState {
  options: ServiceOptions;
  controller: AbortController;
  /** Told when a run ends (`ferry.yaml` `alerts:`): it evaluates its rules at once, on its own time. */
  alerts?: { kick(): void };
  /** Jobs with a run in progress in this worker. */
  running: Set<string>;
  /** Runs and deliveries that a stop waits for. */
  inFlight: Set<Promise<unknown>>;
}

/** How work reaches a worker: started by `startService`, stopped (handing back what it holds) by its stop. */
export interface Dispatch {
  readonly mode: "local" | "cluster";
  request(job: string, reason: string): Promise<void>;
  stop(): Promise<void>;
}

/** Adds a promise to what a stop waits for. */
export const track = <T>(state: ServiceState, p: Promise<T>): Promise<T> => {
  state.inFlight.add(p);
  p.finally(() => state.inFlight.delete(p)).catch(() => {});
  return p;
};

/** Delivers what is due to the destinations (default all): one pass, logged, never thrown. */
export const deliver = ({ options, controller }: ServiceState, only?: readonly string[]) => {
  const destinations = only ? new Map([...options.destinations].filter(([name]) => only.includes(name))) : options.destinations;
  return deliverAll(options.project, options.store, destinations, { log: options.log, signal: controller.signal })
    .then(observeDeliveries)
    .catch((e: unknown) => options.log.error({ err: describeError(e) }, "delivery failed"));
};

/** A run's counters (ferry_runs_total, ferry_rows_total...), from its result. */
function observeRun(result: RunResult, seconds: number) {
  const job = result.job;
  m.runs.inc({ job, outcome: result.status });
  m.runDuration.observe({ job }, seconds);
  for (const kind of ["read", "unchanged", "changed", "rejected", "filtered"] as const) m.rows.inc({ job, kind }, result.counts[kind]);
  m.deletes.inc({ job }, result.counts.deleted);
  m.conflictsOpened.inc({ job }, result.counts.conflicts);
  for (const f of result.files ?? []) m.files.inc({ job, outcome: f.outcome });
}

/** A delivery pass's counters (ferry_deliveries_total), from its tallies. */
function observeDeliveries(tallies: Map<string, DeliveryTally>) {
  for (const [destination, t] of tallies) {
    for (const outcome of ["created", "updated", "deleted", "retried", "dead"] as const) {
      if (t[outcome] > 0) m.deliveries.inc({ destination, outcome }, t[outcome]);
    }
  }
}

/** Tells who listens that a run ended: the caller's `onRun`, and the alerts. Neither can fail the run. */
function runEnded(state: ServiceState, result: RunResult) {
  for (const listener of [state.options.onRun, state.alerts && (() => state.alerts!.kick())]) {
    try {
      listener?.(result);
    } catch (e) {
      state.options.log.error({ job: result.job, err: describeError(e) }, "a listener of the run's end failed; the run stands");
    }
  }
}

export interface RunNowOptions {
  /** Wait this long for a run lease another process holds (a run handed over from a worker that died). */
  waitForLeaseMs?: number;
  /** Stops the run (its batch in flight commits), besides the service's stop. */
  signal?: AbortSignal;
  /** What asked for the run: `schedule` and `files` start nothing while the job's schedule is paused. */
  reason?: string;
  /** After the run, deliver (default: at once, here). */
  afterRun?: () => Promise<unknown>;
}

/**
 * Runs a job in this worker under its run lease, unless it is already running here or elsewhere
 * ("already-running", logged). Resolves when the run and its delivery end.
 */
export async function runNow(state: ServiceState, name: string, opts: RunNowOptions = {}): Promise<RunResult | "already-running" | "paused"> {
  const { project, store, log } = state.options;
  const { controller, running } = state;
  const job = project.jobs.get(name);
  if (!job) throw new Error(`no job named ${name}`);
  if (running.has(name)) {
    log.warn({ job: name }, "skipped: the previous run of this job is still going");
    return "already-running";
  }
  if (controller.signal.aborted) return "already-running";
  if (opts.reason === "schedule" || opts.reason === "files") {
    const paused = await getPause(store.knex, name);
    if (paused) {
      log.info({ job: name, reason: opts.reason }, `skipped: the schedule of ${name} is paused (by ${paused.paused_by} at ${paused.paused_at})`);
      return "paused";
    }
  }
  running.add(name);
  const waitMs = opts.waitForLeaseMs ?? 0;
  const leaseOptions = {
    log,
    expiryMs: leaseExpiryMs(project),
    wait: waitMs > 0,
    signal: AbortSignal.any([controller.signal, ...(waitMs > 0 ? [AbortSignal.timeout(waitMs)] : [])]),
  };
  try {
    // The whole of it is waited for by a stop: the lease is released before the store closes.
    return await track(
      state,
      withRunLease(store, name, leaseOptions, async (lease) => {
        const signal = AbortSignal.any([controller.signal, lease.signal, ...(opts.signal ? [opts.signal] : [])]);
        const started = performance.now();
        const result = await track(state, runJob(project, job, store, { log, signal }));
        observeRun(result, (performance.now() - started) / 1000);
        runEnded(state, result);
        if (!controller.signal.aborted) await track(state, opts.afterRun ? opts.afterRun() : deliver(state));
        return result;
      }),
    );
  } catch (e) {
    // Another process (a `ferry run`, another worker) runs the job: this request is skipped, as an overlap is.
    if (!(e instanceof FerryError && (e.code === "RUN_LEASE_HELD" || e.code === "RUN_INTERRUPTED"))) throw e;
    if (controller.signal.aborted) return "already-running";
    log.warn({ job: name, ...e.details }, `skipped: ${e.message}`);
    return "already-running";
  } finally {
    running.delete(name);
  }
}
