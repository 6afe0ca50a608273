/**
 * Delivery to a destination is done by one process at a time, whichever worker, command or host: the lease
 * `deliver:<destination>` (src/cluster/lease.ts) is held for the whole of one delivery (a pass of `ferry
 * serve`, or a command's delivery with its waits) and released after it. So the destination's rate limit,
 * breaker and backoff live in one process at a time, rows are sent in order per key, and no row is ever in
 * flight from two processes (a create never sent twice by two workers). A process that takes the lease
 * starts the destination's pacing empty (`Destination.claimed`): the requests the last holder made within
 * the API's window are not topped up at once.
 *
 * While another process delivers: a pass (`ferry serve`, no wait) leaves the destination to it; a command
 * waits for it, within its own wait (`--wait`), then delivers what is still due.
 */
import { heldBy, leaseExpiryMs, withLease } from "../cluster/lease.ts";
import type { Project } from "../config/load.ts";
import type { Destination } from "../destinations/destination.ts";
import { TransientError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Lease } from "../state/leases.repo.ts";
import type { StateStore } from "../state/store.ts";

/** The lease's name for delivery to a destination. */
export const deliveryLeaseName = (destination: string): string => `deliver:${destination}`;

export interface DeliveryLeaseOptions {
  log: Logger;
  /** How long to wait for another process's delivery to end (0: not at all). */
  waitMs: number;
  signal?: AbortSignal;
}

/** Delivery to the destination was left to another process, which holds its lease. */
export interface LeftToAnother {
  readonly heldBy: Lease;
  readonly message: string;
}

/**
 * Runs `deliver` under the destination's delivery lease; returns what another process holding it means for
 * this caller when it is not had (at once, or within `waitMs`).
 */
export async function withDeliveryLease<T>(
  project: Project,
  store: StateStore,
  destination: Destination,
  options: DeliveryLeaseOptions,
  deliver: (signal: AbortSignal) => Promise<T>,
): Promise<T | LeftToAnother> {
  const name = deliveryLeaseName(destination.name);
  const deadline = options.waitMs > 0 ? AbortSignal.timeout(options.waitMs) : undefined;
  const signals = [options.signal, deadline].filter((s): s is AbortSignal => s !== undefined);
  const left = (lease: Lease) =>
    new LeftError(lease, `${destination.name}: delivered by ${heldBy(lease)}, which holds its delivery since ${lease.acquired_at}`);
  const errors = {
    held: left,
    interrupted: left,
    lost: (expiryMs: number) =>
      new TransientError("DELIVERY_LEASE_LOST", `another process took over delivery to ${destination.name}: this one had not renewed its lease for ${expiryMs} ms`),
  };
  const leaseOptions = {
    log: options.log,
    expiryMs: leaseExpiryMs(project),
    wait: options.waitMs > 0,
    ...(signals.length > 0 ? { signal: AbortSignal.any(signals) } : {}),
  };
  try {
    return await withLease(store, name, leaseOptions, errors, async (lease) => {
      destination.claimed?.();
      const signal = options.signal ? AbortSignal.any([options.signal, lease.signal]) : lease.signal;
      return deliver(signal);
    });
  } catch (e) {
    if (e instanceof LeftError) return { heldBy: e.lease, message: e.message };
    throw e;
  }
}

/** Delivery left to the lease's holder: not a failure of this process's. */
class LeftError extends TransientError {
  readonly lease: Lease;
  constructor(lease: Lease, message: string) {
    super("DELIVERY_LEASE_HELD", message);
    this.lease = lease;
  }
}
