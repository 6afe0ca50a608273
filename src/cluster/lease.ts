/**
 * A lease around a piece of work: `withLease(store, name, options, fn)` takes the lease `name` in the state
 * store (src/state/leases.repo.ts), renews it while `fn` runs, and releases it when `fn` ends, however it
 * ends. A lease is what keeps one piece of work in one process at a time across processes and hosts: a
 * job's run (src/runner/run-lease.ts), delivery to a destination (src/delivery/delivery-lease.ts).
 *
 * While another process holds the lease, the work does not start: the caller's `held` error is thrown, or,
 * with `wait`, the lease is tried again until it is free. A lease not renewed for `expiryMs` belongs to a
 * process that died and is taken over, except one held by a process still alive on this host: a SQLite
 * write in a long transaction cannot renew its lease until it commits, and is not dead.
 */
import { durationMs } from "../config/duration.ts";
import type { Project } from "../config/load.ts";
import { describeError, type FerryError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { sleep } from "../sleep.ts";
import { acquireLease, type Lease, type LeaseHolder, releaseLease, renewLease } from "../state/leases.repo.ts";
import type { StateStore } from "../state/store.ts";
import { aliveHere, thisProcess } from "./worker.ts";

/** How long a lease lasts without a heartbeat, unless ferry.yaml's `run_lease.expiry` says otherwise. */
export const DEFAULT_LEASE_EXPIRY_MS = 30_000;

/** The project's lease expiry (ferry.yaml `run_lease.expiry`), in milliseconds: for runs and deliveries alike. */
export const leaseExpiryMs = (project: Project): number => durationMs(project.config.run_lease.expiry);

export interface LeaseOptions {
  log: Logger;
  /** A lease not renewed for this long is taken over; renewed every third of it. */
  expiryMs: number;
  /** While another process holds the lease: wait for it (true), or throw `held` (default). */
  wait?: boolean;
  /** Waiting: how often to try again (default a third of the expiry, at most a second). */
  pollMs?: number;
  /** Stops waiting for the lease (with `interrupted`'s error). */
  signal?: AbortSignal;
  now?: () => Date;
  /** Who takes the lease: by default this process, under an id of this holding's own. */
  holder?: LeaseHolder;
  /** Waiting: called once, with the lease waited for. */
  onWait?: (lease: Lease) => void;
}

/** What the work is told about itself in the errors a lease raises: each names the work its own way. */
export interface LeaseErrors {
  /** The lease is held by another process, and not waited for. */
  held(lease: Lease): FerryError;
  /** Another process took the lease over while the work went on. */
  lost(expiryMs: number): FerryError;
  /** The wait for the lease was stopped by `signal`. */
  interrupted(lease: Lease, cause: unknown): FerryError;
}

/** What `fn` is given: the lease it works under. */
export interface HeldLease {
  readonly name: string;
  readonly holder: LeaseHolder;
  /** Aborted, with `lost`'s error, when another process took the lease over: the work must stop. */
  readonly signal: AbortSignal;
  /** The expired lease this one replaced, when its holder had stopped renewing it. */
  readonly tookOver?: Lease;
}

export const heldBy = (lease: Pick<Lease, "pid" | "host" | "worker">): string =>
  `worker ${lease.worker} (process ${lease.pid} on host ${lease.host})`;

export async function withLease<T>(
  store: StateStore,
  name: string,
  options: LeaseOptions,
  errors: LeaseErrors,
  fn: (lease: HeldLease) => Promise<T>,
): Promise<T> {
  const now = options.now ?? (() => new Date());
  const settled = { ...options, now };
  const holder = options.holder ?? thisProcess();
  const tookOver = await acquire(store, name, holder, settled, errors);
  const lost = new AbortController();
  const stop = heartbeat(store, name, holder, settled, errors, lost);
  try {
    return await fn({ name, holder, signal: lost.signal, ...(tookOver ? { tookOver } : {}) });
  } finally {
    stop();
    await releaseLease(store.knex, name, holder.holder).catch((e: unknown) =>
      options.log.warn({ lease: name, err: describeError(e) }, "could not release the lease: it expires by itself"),
    );
  }
}

type Settled = LeaseOptions & { now: () => Date };

/** Takes the lease, waiting for it with `wait`; returns the expired lease it replaced, if any. */
async function acquire(store: StateStore, name: string, holder: LeaseHolder, options: Settled, errors: LeaseErrors) {
  const { log, expiryMs, now } = options;
  let waitingFor: Lease | undefined;
  for (;;) {
    const attempt = await acquireLease(store.knex, name, holder, now(), expiryMs, (expired) => !aliveHere(expired));
    if (attempt.acquired) {
      const old = attempt.tookOver;
      if (old) {
        log.warn({ lease: name, worker: old.worker, pid: old.pid, host: old.host, heartbeat: old.heartbeat_at }, `took over ${name} from ${heldBy(old)}, which stopped renewing it`);
      }
      return old;
    }
    if (!options.wait) throw errors.held(attempt.lease);
    if (!waitingFor) {
      options.onWait?.(attempt.lease);
      log.info({ lease: name, worker: attempt.lease.worker }, `waiting for ${name}, held by ${heldBy(attempt.lease)}`);
    }
    waitingFor = attempt.lease;
    try {
      await sleep(options.pollMs ?? Math.min(1_000, expiryMs / 3), options.signal);
    } catch (e) {
      throw errors.interrupted(waitingFor, e);
    }
  }
}

/**
 * Renews the lease every third of its expiry on a timer that keeps no process alive; aborts `lost` when
 * the lease is found taken over. A renewal that fails (the store busy or unreachable) is tried again at
 * the next tick. Returns the function that stops it.
 */
function heartbeat(
  store: StateStore,
  name: string,
  holder: LeaseHolder,
  options: Settled,
  errors: LeaseErrors,
  lost: AbortController,
): () => void {
  const { log, expiryMs, now } = options;
  let stopped = false;
  let beating = false;
  const beat = async () => {
    if (beating || stopped) return;
    beating = true;
    try {
      const renewed = await renewLease(store.knex, name, holder.holder, now(), expiryMs);
      if (!renewed && !stopped) {
        stopped = true;
        clearInterval(timer);
        lost.abort(errors.lost(expiryMs));
      }
    } catch (e) {
      log.warn({ lease: name, err: describeError(e) }, "could not renew the lease; trying again");
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
