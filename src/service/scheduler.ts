/**
 * `ferry serve`: each job on its cron schedule, never two runs of one job at once, a delivery loop that
 * retries what is due, and a clean stop on SIGTERM/SIGINT: the batch in flight commits (or rolls back
 * whole), no new batch starts, and the state store is closed.
 */
import cron, { type ScheduledTask } from "node-cron";
import type { Project } from "../config/load.ts";
import { sleep } from "../delivery/backoff.ts";
import { deliverAll } from "../delivery/deliver.ts";
import type { Destination } from "../destinations/destination.ts";
import { describeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { type RunResult, runJob } from "../runner/run-job.ts";
import type { StateStore } from "../state/store.ts";

export interface ServiceOptions {
  project: Project;
  store: StateStore;
  destinations: Map<string, Destination>;
  log: Logger;
  /** How often the delivery loop looks for due outbox rows. */
  deliveryIntervalMs?: number;
  onRun?: (result: RunResult) => void;
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
    }
  };

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
