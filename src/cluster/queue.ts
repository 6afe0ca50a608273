/**
 * The work queue of several workers on one PostgreSQL state store: pg-boss, in its own schema (`pgboss`) of
 * the state database. Two queues, one per kind of work, each holding at most one job waiting and one
 * running per key (pg-boss's `stately` policy):
 *
 * - `ferry-runs`, keyed by job: runs asked for by a schedule occurrence (pg-boss fires each once per
 *   cluster), a folder that changed, or a trigger. A request while the job waits to run is the same run.
 * - `ferry-deliveries`, keyed by destination: delivery passes.
 *
 * pg-boss hands a job to one worker and, when that worker's heartbeats stop, to another; the leases in the
 * state store (src/cluster/lease.ts) are what keep one holder, since pg-boss may retry a job whose holder is
 * only slow. With SQLite state there is one process and no queue (src/service/local.ts).
 */
import { PgBoss } from "pg-boss";
import { durationMs } from "../config/duration.ts";
import type { Project } from "../config/load.ts";
import { describeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { leaseExpiryMs } from "./lease.ts";

export const RUNS = "ferry-runs";
export const DELIVERIES = "ferry-deliveries";
/** pg-boss's own tables, beside Ferry's in the state database. */
export const QUEUE_SCHEMA = "pgboss";

/** A run asked of the cluster. */
export interface RunRequest {
  job: string;
  /** What asked for it, for the log: `schedule`, `files`, `trigger`. */
  reason: string;
}

export interface DeliveryRequest {
  destination: string;
}

/** Seconds pg-boss gives a worker's heartbeat on a job before another worker may take it (its least). */
const JOB_HEARTBEAT_SECONDS = 10;
/** A job runs at most this long (pg-boss's ceiling, 24 h); the run lease covers longer runs. */
const JOB_EXPIRY_SECONDS = 24 * 60 * 60;
/** Times a job is handed to another worker after its holder died or stopped mid-run. */
const JOB_RETRIES = 10;

export interface QueueOptions {
  url: string;
  project: Project;
  workerId: string;
  log: Logger;
  /** Whether this instance fires schedules and looks after the queues (false: it only reads). */
  serving: boolean;
}

/** pg-boss on the state database, started: its schema made or migrated, the two queues created. */
export async function openQueue(options: QueueOptions): Promise<PgBoss> {
  const { url, project, workerId, log, serving } = options;
  const expirySeconds = Math.ceil(leaseExpiryMs(project) / 1000);
  // Dead workers' jobs are looked for about as often as their leases expire, at least every 10 s.
  const supervise = Math.max(1, Math.min(10, expirySeconds));
  const boss = new PgBoss({
    connectionString: url,
    schema: QUEUE_SCHEMA,
    application_name: `ferry ${workerId}`,
    instanceName: workerId,
    max: 4,
    schedule: serving,
    supervise: serving,
    cronMonitorIntervalSeconds: Math.round(durationMs(project.config.serve.schedule_check) / 1000),
    cronWorkerIntervalSeconds: Math.max(1, Math.min(5, Math.round(durationMs(project.config.serve.schedule_check) / 1000))),
    superviseIntervalSeconds: supervise,
    monitorIntervalSeconds: supervise,
    registerInstance: serving,
    openTelemetry: { enabled: false },
  });
  boss.on("error", (e: unknown) => log.error({ err: describeError(e) }, "work queue (pg-boss) error"));
  await boss.start();
  if (serving) {
    const queue = {
      policy: "stately" as const,
      heartbeatSeconds: JOB_HEARTBEAT_SECONDS,
      expireInSeconds: JOB_EXPIRY_SECONDS,
      retryLimit: JOB_RETRIES,
      retryDelay: 0,
      deleteAfterSeconds: 7 * 24 * 60 * 60,
    };
    for (const name of [RUNS, DELIVERIES]) {
      if (!(await boss.getQueue(name))) await boss.createQueue(name, queue).catch(async (e: unknown) => {
        // Another worker created it between the look and the create.
        if (!(await boss.getQueue(name))) throw e;
      });
    }
  }
  return boss;
}
