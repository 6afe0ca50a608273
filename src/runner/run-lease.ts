/**
 * A job's run lease around a run: `withRunLease(store, job, options, fn)` holds the lease `run:<job>`
 * (src/cluster/lease.ts) while `fn` runs. It is what keeps a job from running twice at once across
 * processes and hosts: two `ferry run`, a `ferry run` beside `ferry serve`, several workers on one
 * PostgreSQL state store. A process keeps its own runs apart itself (`ferry serve`'s running set).
 *
 * While another process holds the lease, the run does not start: it throws RUN_LEASE_HELD (exit 6), or,
 * with `wait`, waits until the lease is free. A lease left by a process that died is taken over, and the
 * runs that process left `running` are marked abandoned, naming it.
 */
import { DEFAULT_LEASE_EXPIRY_MS, heldBy, type HeldLease, type LeaseOptions, withLease } from "../cluster/lease.ts";
import { describeError, TransientError } from "../errors.ts";
import type { Lease } from "../state/leases.repo.ts";
import { abandonRuns } from "../state/runs.repo.ts";
import type { StateStore } from "../state/store.ts";

export type RunLeaseOptions = Omit<LeaseOptions, "expiryMs"> & { expiryMs?: number };

/** What `fn` is given: the lease it runs under. */
export interface HeldRunLease extends HeldLease {
  readonly job: string;
}

/** The lease's name for a job's run. */
export const runLeaseName = (job: string): string => `run:${job}`;

/** The refusal of a run whose job another process is running. */
export function leaseHeldError(job: string, lease: Lease): TransientError {
  return new TransientError(
    "RUN_LEASE_HELD",
    `job ${job} is running in ${heldBy(lease)} since ${lease.acquired_at} (last heartbeat ${lease.heartbeat_at}); this run did not start: run it again once that one ends, or with --wait to wait for it`,
    { details: { job, worker: lease.worker, pid: lease.pid, host: lease.host, since: lease.acquired_at } },
  );
}

export async function withRunLease<T>(
  store: StateStore,
  job: string,
  options: RunLeaseOptions,
  fn: (lease: HeldRunLease) => Promise<T>,
): Promise<T> {
  const settled = { ...options, expiryMs: options.expiryMs ?? DEFAULT_LEASE_EXPIRY_MS };
  const errors = {
    held: (lease: Lease) => leaseHeldError(job, lease),
    lost: (expiryMs: number) =>
      new TransientError("RUN_LEASE_LOST", `another process took over job ${job}'s run lease: this one had not renewed it for ${expiryMs} ms`),
    interrupted: (lease: Lease, cause: unknown) =>
      new TransientError("RUN_INTERRUPTED", `stopped while waiting for job ${job}'s run in ${heldBy(lease)} (${describeError(cause)})`, { cause }),
  };
  return withLease(store, runLeaseName(job), settled, errors, async (lease) => {
    await abandonLeftRuns(store, job, lease.tookOver, settled);
    return fn({ ...lease, job });
  });
}

/**
 * With the lease held, no other process runs the job: a run of it still marked `running` was left by one
 * that died (or was killed) mid-run. It is marked abandoned, naming that process when the lease says which.
 */
async function abandonLeftRuns(store: StateStore, job: string, old: Lease | undefined, options: RunLeaseOptions) {
  const who = old ? heldBy(old) : "the process running it";
  const reason = `${who} stopped without finishing this run; its committed batches stand, and the next run goes on from them`;
  const at = (options.now ?? (() => new Date()))().toISOString();
  const count = await abandonRuns(store.knex, job, at, reason);
  if (count > 0) options.log.warn({ job, runs: count }, `marked ${count} run(s) of ${job} abandoned: ${reason}`);
}
