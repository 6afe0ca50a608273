/**
 * A job's run lease around a run: `withRunLease(store, job, options, fn)` takes the job's lease in the
 * state store (src/state/leases.repo.ts), renews it while `fn` runs, and releases it when `fn` ends, however
 * it ends (a result, an error, an abort on SIGTERM). The lease is what keeps a job from running twice at
 * once across processes and hosts: two `ferry run`, a `ferry run` beside `ferry serve`, several workers on
 * one PostgreSQL state store. A process keeps its own runs apart itself (`ferry serve`'s running set).
 *
 * While another process holds the lease, the run does not start: it throws RUN_LEASE_HELD (exit 6), or,
 * with `wait`, tries again until the lease is free. A lease not renewed for `expiryMs` belongs to a process
 * that died and is taken over, except one held by a process still alive on this host: a SQLite run in a
 * long transaction cannot renew its lease until it commits, and is not dead.
 */
import { randomUUID } from "node:crypto";
import os from "node:os";
import { durationMs } from "../config/duration.ts";
import type { Project } from "../config/load.ts";
import { describeError, TransientError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { sleep } from "../sleep.ts";
import { acquireLease, type LeaseHolder, releaseLease, renewLease, type RunLease } from "../state/leases.repo.ts";
import { abandonRuns } from "../state/runs.repo.ts";
import type { StateStore } from "../state/store.ts";

/** How long a lease lasts without a heartbeat, unless ferry.yaml's `run_lease.expiry` says otherwise. */
export const DEFAULT_LEASE_EXPIRY_MS = 30_000;

/** The project's lease expiry (ferry.yaml `run_lease.expiry`), in milliseconds. */
export const leaseExpiryMs = (project: Project): number => durationMs(project.config.run_lease.expiry);

export interface RunLeaseOptions {
  log: Logger;
  /** While another process holds the lease: wait for it (true), or refuse with RUN_LEASE_HELD (default). */
  wait?: boolean;
  /** A lease not renewed for this long is taken over; renewed every third of it. */
  expiryMs?: number;
  /** Waiting: how often to try again (default a third of the expiry, at most a second). */
  pollMs?: number;
  /** Stops waiting for the lease (with RUN_INTERRUPTED). */
  signal?: AbortSignal;
  now?: () => Date;
  /** Who takes the lease: by default this process, under an id of this run's own. */
  holder?: LeaseHolder;
  /** Waiting: called once, with the lease waited for. */
  onWait?: (lease: RunLease) => void;
}

/** What `fn` is given: the lease it runs under. */
export interface HeldRunLease {
  readonly job: string;
  readonly holder: LeaseHolder;
  /** Aborted, with RUN_LEASE_LOST, when another process took the lease over: the run must stop. */
  readonly signal: AbortSignal;
}

export function thisProcess(): LeaseHolder {
  return { holder: randomUUID(), pid: process.pid, host: os.hostname() };
}

const heldBy = (lease: RunLease) => `process ${lease.pid} on host ${lease.host}`;

/** The refusal of a run whose job another process is running. */
export function leaseHeldError(job: string, lease: RunLease): TransientError {
  return new TransientError(
    "RUN_LEASE_HELD",
    `job ${job} is running in ${heldBy(lease)} since ${lease.acquired_at} (last heartbeat ${lease.heartbeat_at}); this run did not start: run it again once that one ends, or with --wait to wait for it`,
    { details: { job, pid: lease.pid, host: lease.host, since: lease.acquired_at } },
  );
}

/** Whether the process that holds `lease` is alive on this host (then an expired lease is only late). */
function aliveHere(lease: RunLease): boolean {
  if (lease.host !== os.hostname()) return false;
  try {
    process.kill(lease.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function withRunLease<T>(
  store: StateStore,
  job: string,
  options: RunLeaseOptions,
  fn: (lease: HeldRunLease) => Promise<T>,
): Promise<T> {
  const expiryMs = options.expiryMs ?? DEFAULT_LEASE_EXPIRY_MS;
  const now = options.now ?? (() => new Date());
  const holder = options.holder ?? thisProcess();
  await acquire(store, job, holder, { ...options, expiryMs, now });
  const lost = new AbortController();
  const stop = heartbeat(store, job, holder, { ...options, expiryMs, now }, lost);
  try {
    return await fn({ job, holder, signal: lost.signal });
  } finally {
    stop();
    await releaseLease(store.knex, job, holder.holder).catch((e: unknown) =>
      options.log.warn({ job, err: describeError(e) }, "could not release the run lease: it expires by itself"),
    );
  }
}

type Settled = RunLeaseOptions & { expiryMs: number; now: () => Date };

/** Takes the lease, waiting for it with `wait`; throws RUN_LEASE_HELD, or RUN_INTERRUPTED when a wait is aborted. */
async function acquire(store: StateStore, job: string, holder: LeaseHolder, options: Settled): Promise<void> {
  const { log, expiryMs, now } = options;
  let waitingFor: RunLease | undefined;
  for (;;) {
    const attempt = await acquireLease(store.knex, job, holder, now(), expiryMs, (expired) => !aliveHere(expired));
    if (attempt.acquired) {
      const old = attempt.tookOver;
      if (old) log.warn({ job, pid: old.pid, host: old.host, heartbeat: old.heartbeat_at }, `took over the run lease of ${heldBy(old)}, which stopped renewing it`);
      await abandonLeftRuns(store, job, old, options);
      return;
    }
    if (!options.wait) throw leaseHeldError(job, attempt.lease);
    if (!waitingFor) {
      options.onWait?.(attempt.lease);
      log.info({ job, pid: attempt.lease.pid, host: attempt.lease.host }, "waiting for the job's run in another process");
    }
    waitingFor = attempt.lease;
    try {
      await sleep(options.pollMs ?? Math.min(1_000, expiryMs / 3), options.signal);
    } catch (e) {
      const message = `stopped while waiting for job ${job}'s run in ${heldBy(waitingFor)} (${describeError(e)})`;
      throw new TransientError("RUN_INTERRUPTED", message, { cause: e });
    }
  }
}

/**
 * With the lease held, no other process runs the job: a run of it still marked `running` was left by one
 * that died (or was killed) mid-run. It is marked abandoned, naming that process when the lease says which.
 */
async function abandonLeftRuns(store: StateStore, job: string, old: RunLease | undefined, options: Settled) {
  const who = old ? `process ${old.pid} on host ${old.host}` : "the process running it";
  const reason = `${who} stopped without finishing this run; its committed batches stand, and the next run goes on from them`;
  const count = await abandonRuns(store.knex, job, options.now().toISOString(), reason);
  if (count > 0) options.log.warn({ job, runs: count }, `marked ${count} run(s) of ${job} abandoned: ${reason}`);
}

/**
 * Renews the lease every third of its expiry on a timer that keeps no process alive; aborts `lost` when
 * the lease is found taken over. A renewal that fails (the store busy or unreachable) is tried again at
 * the next tick. Returns the function that stops it.
 */
function heartbeat(store: StateStore, job: string, holder: LeaseHolder, options: Settled, lost: AbortController): () => void {
  const { log, expiryMs, now } = options;
  let stopped = false;
  let beating = false;
  const beat = async () => {
    if (beating || stopped) return;
    beating = true;
    try {
      const renewed = await renewLease(store.knex, job, holder.holder, now(), expiryMs);
      if (!renewed && !stopped) {
        stopped = true;
        clearInterval(timer);
        const message = `another process took over job ${job}'s run lease: this one had not renewed it for ${expiryMs} ms`;
        lost.abort(new TransientError("RUN_LEASE_LOST", message));
      }
    } catch (e) {
      log.warn({ job, err: describeError(e) }, "could not renew the run lease; trying again");
    } finally {
      beating = false;
    }
  };
  const timer = setInterval(() => void beat(), Math.max(1, Math.floor(expiryMs / 3)));
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
