/**
 * Work across several workers on one PostgreSQL state store, through pg-boss (src/cluster/queue.ts): each
 * job's schedule is registered with pg-boss, which sends one run request per occurrence to the whole
 * cluster; a request (schedule, files, trigger) waits in `ferry-runs` under its job's key, so a job has at
 * most one run waiting and one running anywhere; each worker takes runs and delivery passes from the queues.
 *
 * A run is held by its run lease, not by pg-boss alone: pg-boss hands a job whose worker stopped
 * heartbeating to another worker, which waits for the run lease of the old one to expire (if its process is
 * only slow, it keeps the run) and then goes on from the last committed batch. A worker that stops (SIGTERM)
 * ends its runs after their batch in flight and hands them back: another worker takes them at once.
 */
import type { Job, PgBoss } from "pg-boss";
import { leaseExpiryMs } from "../cluster/lease.ts";
import { DELIVERIES, type DeliveryRequest, openQueue, RUNS, type RunRequest } from "../cluster/queue.ts";
import { workerId } from "../cluster/worker.ts";
import { durationMs } from "../config/duration.ts";
import { scheduleTimeZone } from "../config/schedule.ts";
import { describeError, FerryError } from "../errors.ts";
import { sleep } from "../sleep.ts";
import { type Dispatch, deliver, runNow, type ServiceState } from "./work.ts";

/** A stopping worker fails the runs it hands back; pg-boss gives them to another worker. */
class HandedBack extends Error {}

export async function startCluster(state: ServiceState): Promise<Dispatch> {
  const { project, log } = state.options;
  const url = "url" in project.config.state ? project.config.state.url : undefined;
  if (!url) throw new Error("several workers need PostgreSQL state (state.url in ferry.yaml)");
  const boss = await openQueue({ url, project, workerId: workerId(), log, serving: true });
  try {
    await registerSchedules(state, boss);
    await takeWork(state, boss);
  } catch (e) {
    await boss.stop({ graceful: false, close: true }).catch(() => {});
    throw e;
  }
  const loop = deliveryRequests(state, boss);
  log.info("worker started: taking runs and deliveries from the cluster's queue (pg-boss)");
  return {
    mode: "cluster",
    request: (job, reason) => requestRun(boss, job, reason),
    stop: async () => {
      await loop;
      // Waits for the handlers: their runs end after the batch in flight and are handed back.
      await boss.stop({ graceful: true, close: true, timeout: 60_000 });
    },
  };
}

/** Asks the cluster for a run; a request while the job already waits to run is that run. */
async function requestRun(boss: PgBoss, job: string, reason: string): Promise<void> {
  await boss.send(RUNS, { job, reason } satisfies RunRequest, { singletonKey: job });
}

/** Each scheduled job's cron with pg-boss, keyed by job; schedules of jobs no longer scheduled are removed. */
async function registerSchedules(state: ServiceState, boss: PgBoss) {
  const { project, log } = state.options;
  const scheduled = new Set<string>();
  for (const [name, job] of project.jobs) {
    const schedule = job.config.schedule;
    if (!schedule) continue;
    const tz = scheduleTimeZone(job.config.timezone);
    const request: RunRequest = { job: name, reason: "schedule" };
    await boss.schedule(RUNS, schedule, request, { tz, key: name, singletonKey: name });
    scheduled.add(name);
    log.info({ job: name, schedule, timezone: tz }, "scheduled (once per occurrence across the cluster)");
  }
  for (const s of await boss.getSchedules(RUNS)) {
    if (scheduled.has(s.key)) continue;
    await boss.unschedule(RUNS, s.key);
    log.info({ job: s.key }, "schedule removed: the job is no longer scheduled in this project");
  }
}

/** Takes runs and delivery passes from the queues: as many at once as there are jobs and destinations. */
async function takeWork(state: ServiceState, boss: PgBoss) {
  const { project, destinations } = state.options;
  const pollingIntervalSeconds = durationMs(project.config.serve.poll) / 1000;
  await boss.work<RunRequest>(
    RUNS,
    { pollingIntervalSeconds, batchSize: 1, localConcurrency: Math.max(1, project.jobs.size) },
    async ([job]) => (job ? handleRun(state, boss, job) : undefined),
  );
  if (destinations.size === 0) return;
  await boss.work<DeliveryRequest>(
    DELIVERIES,
    { pollingIntervalSeconds, batchSize: 1, localConcurrency: destinations.size },
    async ([job]) => {
      if (job && destinations.has(job.data.destination)) await deliver(state, [job.data.destination]);
    },
  );
}

/**
 * One run request: the run, under its lease. A request pg-boss hands over from a worker that died waits for
 * that worker's run lease to expire. The run's own failure is its run's (recorded, alerted on), not the
 * queue's: only a run this worker stops is failed, to be handed back.
 */
async function handleRun(state: ServiceState, boss: PgBoss, job: Job<RunRequest>) {
  const { project, log } = state.options;
  const { job: name, reason } = job.data;
  if (!project.jobs.has(name)) {
    log.warn({ job: name, reason }, "skipped: a run was asked for a job this worker's project does not have");
    return { skipped: "unknown job" };
  }
  const handedOver = job.retryCount > 0;
  if (handedOver) log.warn({ job: name, attempt: job.retryCount + 1 }, "taking over a run another worker did not finish");
  const result = await runNow(state, name, {
    reason,
    waitForLeaseMs: handedOver ? 3 * leaseExpiryMs(project) : 0,
    signal: job.signal,
    afterRun: () => requestDeliveries(state, boss),
  });
  if (result === "already-running" || result === "paused") return { outcome: result };
  const stopped = state.controller.signal.aborted && result.error instanceof FerryError && result.error.code === "RUN_INTERRUPTED";
  if (stopped) throw new HandedBack(`worker ${workerId()} stopped during run ${result.runId} of ${name}: handed back`);
  return { outcome: result.status, run: result.runId };
}

/** Asks for a delivery pass to every destination; one waiting per destination is enough. */
async function requestDeliveries(state: ServiceState, boss: PgBoss) {
  for (const destination of state.options.destinations.keys()) {
    await boss.send(DELIVERIES, { destination } satisfies DeliveryRequest, { singletonKey: destination }).catch((e: unknown) => {
      state.options.log.warn({ destination, err: describeError(e) }, "could not ask for a delivery pass");
    });
  }
}

/** Every `serve.delivery_every`, a delivery pass asked for each destination, until the service stops. */
async function deliveryRequests(state: ServiceState, boss: PgBoss) {
  const interval = state.options.deliveryIntervalMs ?? durationMs(state.options.project.config.serve.delivery_every);
  while (!state.controller.signal.aborted) {
    await requestDeliveries(state, boss);
    await sleep(interval, state.controller.signal).catch(() => {});
  }
}
