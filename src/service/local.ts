/**
 * Work in one process (SQLite state): node-cron fires each job's schedule here, a request runs the job at
 * once (or, if it is running, once more after it: files that landed during a run are taken by another), and
 * a delivery loop delivers what is due every `serve.delivery_every`.
 */
import cron, { type ScheduledTask } from "node-cron";
import { durationMs } from "../config/duration.ts";
import { scheduleTimeZone } from "../config/schedule.ts";
import { describeError } from "../errors.ts";
import { sleep } from "../sleep.ts";
import { type Dispatch, deliver, runNow, type ServiceState } from "./work.ts";

export function startLocal(state: ServiceState): Dispatch {
  const { project, log } = state.options;
  /** The run of each job this process started and that has not ended. */
  const current = new Map<string, Promise<unknown>>();
  /** Jobs asked for while they ran: each runs once more after. */
  const again = new Set<string>();
  const start = (name: string, reason: string) => {
    const run = runNow(state, name, { reason });
    if (!current.has(name)) {
      current.set(name, run);
      run.finally(() => current.get(name) === run && current.delete(name)).catch(() => {});
    }
    return run;
  };
  const request = async (name: string, reason: string): Promise<void> => {
    const running = current.get(name);
    if (running) {
      if (again.has(name)) return;
      again.add(name);
      await running.catch(() => {});
      again.delete(name);
      if (state.controller.signal.aborted) return;
    }
    log.debug({ job: name, reason }, "run requested");
    await start(name, reason);
  };
  const tasks: ScheduledTask[] = [];
  for (const [name, job] of project.jobs) {
    const schedule = job.config.schedule;
    if (!schedule) continue;
    // A tick while the job runs is skipped (runNow says so).
    const run = () => void start(name, "schedule").catch((e: unknown) => log.error({ job: name, err: describeError(e) }, "run failed"));
    tasks.push(cron.schedule(schedule, run, { name, timezone: scheduleTimeZone(job.config.timezone) }));
    log.info({ job: name, schedule, timezone: scheduleTimeZone(job.config.timezone) }, "scheduled");
  }
  const loop = deliveryLoop(state);
  return {
    mode: "local",
    request,
    stop: async () => {
      for (const t of tasks) await t.destroy();
      await loop;
    },
  };
}

/** Delivers what is due, again and again, until the service stops. */
async function deliveryLoop(state: ServiceState) {
  const interval = state.options.deliveryIntervalMs ?? durationMs(state.options.project.config.serve.delivery_every);
  while (!state.controller.signal.aborted) {
    await deliver(state);
    await sleep(interval, state.controller.signal).catch(() => {});
  }
}
