/**
 * `ferry serve`: each job on its cron schedule, never two runs of one job at once, a delivery loop that
 * retries what is due, and a clean stop on SIGTERM/SIGINT: the batch in flight commits (or rolls back
 * whole), no new batch starts, and the state store is closed.
 */
import cron, { type ScheduledTask } from "node-cron";
import type { Project } from "../config/load.ts";
import { sleep } from "../sleep.ts";
import { deliverAll } from "../delivery/deliver.ts";
import type { Destination } from "../destinations/destination.ts";
import { describeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { openSource, type RunResult, runJob } from "../runner/run-job.ts";
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
  /** Runs a job now unless it is already running; resolves when that run (and its delivery) ends. */
  trigger(job: string): Promise<RunResult | "already-running">;
  stop(): Promise<void>;
  readonly running: ReadonlySet<string>;
}

export function startService(options: ServiceOptions): Service {
  const { project, store, log } = options;
  const controller = new AbortController();
  const running = new Set<string>();
  const inFlight = new Set<Promise<unknown>>();
  const tasks: ScheduledTask[] = [];

  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    p.finally(() => inFlight.delete(p)).catch(() => {});
    return p;
  };

  const deliver = () =>
    deliverAll(project, store, options.destinations, { log, signal: controller.signal }).catch((e) =>
      log.error({ err: describeError(e) }, "delivery failed"),
    );

  const trigger = async (name: string): Promise<RunResult | "already-running"> => {
    const job = project.jobs.get(name);
    if (!job) throw new Error(`no job named ${name}`);
    if (running.has(name)) {
      log.warn({ job: name }, "skipped: the previous run of this job is still going");
      return "already-running";
    }
    if (controller.signal.aborted) return "already-running";
    running.add(name);
    try {
      const result = await track(runJob(project, job, store, { log, signal: controller.signal }));
      options.onRun?.(result);
      if (!controller.signal.aborted) await track(deliver());
      return result;
    } finally {
      running.delete(name);
      // Files that arrived during the run are taken by another.
      if (again.delete(name) && !controller.signal.aborted) kickers.get(name)?.();
    }
  };

  // Folder jobs run when a file lands, a moment after the last change seen (a copy in progress
  // changes the file many times); the run itself still waits for the file to be complete.
  const again = new Set<string>();
  const kickers = new Map<string, () => void>();
  for (const [name, job] of project.jobs) {
    const source = openSource(project, job, log, { signal: controller.signal });
    if (!source.watch) {
      void source.close();
      continue;
    }
    let timer: NodeJS.Timeout | undefined;
    const kick = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (running.has(name)) {
          again.add(name);
          return;
        }
        void trigger(name).catch((e) => log.error({ job: name, err: describeError(e) }, "run failed"));
      }, options.watchDebounceMs ?? 250);
    };
    kickers.set(name, kick);
    controller.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
    try {
      source.watch(kick, controller.signal);
      log.info({ job: name }, "watching for files");
    } catch (e) {
      log.error({ job: name, err: describeError(e) }, "cannot watch this job's folder");
    }
  }

  for (const [name, job] of project.jobs) {
    if (!job.config.schedule) continue;
    tasks.push(
      cron.schedule(
        job.config.schedule,
        () => void trigger(name).catch((e) => log.error({ job: name, err: describeError(e) }, "run failed")),
        {
          name,
        },
      ),
    );
    log.info({ job: name, schedule: job.config.schedule }, "scheduled");
  }

  const interval = options.deliveryIntervalMs ?? 15_000;
  const loop = (async () => {
    while (!controller.signal.aborted) {
      await deliver();
      await sleep(interval, controller.signal).catch(() => {});
    }
  })();

  return {
    trigger,
    running,
    async stop() {
      for (const t of tasks) await t.destroy();
      controller.abort(new Error("ferry is stopping"));
      await Promise.allSettled([...inFlight, loop]);
      for (const d of options.destinations.values()) await d.close();
    },
  };
}
