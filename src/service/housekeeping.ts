/**
 * What `ferry serve` does besides runs and deliveries: once a day (the first a minute after it starts), it
 * prunes history by ferry.yaml's `retention:` (src/operate/prune.ts). With several workers, the lease
 * `prune` lets one of them do it; the others skip that day's turn.
 */
import { leaseExpiryMs, withLease } from "../cluster/lease.ts";
import { describeError, TransientError } from "../errors.ts";
import { prune } from "../operate/prune.ts";
import type { ServiceState } from "./work.ts";

const DAY_MS = 86_400_000;
const FIRST_AFTER_MS = 60_000;

async function pruneOnce(state: ServiceState) {
  const { project, store, log } = state.options;
  const refused = (what: string) => () => new TransientError("RUN_LEASE_HELD", what);
  const errors = { held: refused("another worker prunes"), lost: refused("the prune lease was taken over"), interrupted: refused("stopped") };
  try {
    const counts = await withLease(store, "prune", { log, expiryMs: leaseExpiryMs(project) }, errors, () => prune(project, store));
    log.info({ ...counts }, "history pruned by ferry.yaml's retention");
  } catch (e) {
    if (e instanceof TransientError && e.code === "RUN_LEASE_HELD") return;
    log.warn({ err: describeError(e) }, "could not prune history; trying again tomorrow");
  }
}

/** Starts the daily prune; returns what stops it. */
export function startHousekeeping(state: ServiceState): () => void {
  let daily: NodeJS.Timeout | undefined;
  const first = setTimeout(() => {
    void pruneOnce(state);
    daily = setInterval(() => void pruneOnce(state), DAY_MS);
    daily.unref();
  }, FIRST_AFTER_MS);
  first.unref();
  return () => {
    clearTimeout(first);
    clearInterval(daily);
  };
}
