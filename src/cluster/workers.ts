/**
 * Who works on a state store: `ferry workers`. With PostgreSQL state, the workers are pg-boss's registered
 * instances (named by worker id, with their heartbeats); with either store, the leases say what each process
 * holds now: a job's run (`run:<job>`), delivery to a destination (`deliver:<destination>`). A process that
 * holds a lease without being a worker (a `ferry run` from a shell) is listed by its lease alone.
 */
import { PgBoss } from "pg-boss";
import type { StateConfig } from "../config/project.schema.ts";
import { describeError } from "../errors.ts";
import { type Lease, listLeases } from "../state/leases.repo.ts";
import type { StateStore } from "../state/store.ts";
import { QUEUE_SCHEMA } from "./queue.ts";

export interface WorkerInfo {
  worker: string;
  host: string;
  pid: number;
  /** `live` (heartbeating), `quiet` (missed its heartbeats: stopped or dead), `stopped` (stopped cleanly). */
  state: "live" | "quiet" | "stopped";
  started_at: string | null;
  heartbeat_at: string;
  /** The leases it holds, by name; an expired one is marked `(expired)`. */
  holds: string[];
}

export interface WorkersReport {
  workers: WorkerInfo[];
  /** Why no registered worker could be read, if so: the store is SQLite, or no worker has started yet. */
  note?: string;
}

/** The workers of the state store `store`, opened from `state` (ferry.yaml's, its PostgreSQL URL resolved). */
export async function listWorkers(store: StateStore, state: StateConfig, now = new Date()): Promise<WorkersReport> {
  const leases = await listLeases(store.knex);
  const registered =
    "url" in state ? await registeredWorkers(store, state.url) : { workers: [], note: "SQLite state: no registered workers (one process at a time); what holds a lease is listed" };
  const byId = new Map(registered.workers.map((w) => [w.worker, w]));
  for (const lease of leases) {
    let w = byId.get(lease.worker);
    if (!w) {
      w = fromLease(lease, now);
      byId.set(w.worker, w);
    }
    w.holds.push(lease.expires_at <= now.toISOString() ? `${lease.name} (expired)` : lease.name);
  }
  const workers = [...byId.values()].sort((a, b) => order(a) - order(b) || a.worker.localeCompare(b.worker));
  return registered.note ? { workers, note: registered.note } : { workers };
}

const order = (w: WorkerInfo) => ["live", "quiet", "stopped"].indexOf(w.state);

function fromLease(lease: Lease, now: Date): WorkerInfo {
  const live = lease.expires_at > now.toISOString();
  const { worker, host, pid } = lease;
  return { worker, host, pid, state: live ? "live" : "quiet", started_at: lease.acquired_at, heartbeat_at: lease.heartbeat_at, holds: [] };
}

/** pg-boss's registered instances on the state database, read without registering one. */
async function registeredWorkers(store: StateStore, url: string): Promise<WorkersReport> {
  const schemata = await store.knex.raw("SELECT 1 FROM information_schema.schemata WHERE schema_name = ?", [QUEUE_SCHEMA]);
  const installed = (schemata as { rows: unknown[] }).rows;
  if (installed.length === 0) return { workers: [], note: "no worker has started on this state store yet (`ferry serve`)" };
  const boss = new PgBoss({
    connectionString: url,
    schema: QUEUE_SCHEMA,
    schedule: false,
    supervise: false,
    migrate: false,
    registerInstance: false,
    openTelemetry: { enabled: false },
  });
  boss.on("error", () => {});
  try {
    await boss.start();
    const instances = await boss.getInstances({ limit: 1000 });
    const workers = instances.map<WorkerInfo>((i) => ({
      worker: i.name ?? i.id,
      host: i.host,
      pid: i.pid,
      state: i.stoppedOn ? "stopped" : i.live ? "live" : "quiet",
      started_at: i.startedOn.toISOString(),
      heartbeat_at: i.heartbeatOn.toISOString(),
      holds: [],
    }));
    return { workers };
  } catch (e) {
    return { workers: [], note: `the work queue could not be read: ${describeError(e)}` };
  } finally {
    await boss.stop({ graceful: false, close: true }).catch(() => {});
  }
}
