/**
 * Delivery: drains the outbox, destination by destination, in batches the destination declares, with
 * per-item outcomes. A delivered row records what was pushed where. A row the API refuses, or that keeps
 * failing on its own, goes to the dead-letter queue with its request, the answer and the reason; a batch
 * failing in a way that may be one record's (a 500) is split until that record is alone (send.ts). A
 * destination that is down (unreachable, 5xx after retries, circuit open, credentials refused, or failing
 * every record) blames no record: its rows stay pending with their attempts untouched and the pass pauses.
 * When to try it again is the destination's availability (availability.ts), which waits longer after each
 * failed try: a command (`waitMs`) tries again while the destination has been unavailable for less than
 * its wait, then gives up, its tally saying why; `ferry serve`'s loop (no wait) skips it until it is due.
 * Refused credentials need a person: a command gives up at once. A crash between the API's answer and the
 * commit leaves the row pending: it is sent again, and the destination's lookup-before-create (or upsert)
 * makes the second send an update, not a duplicate. Under `remote_edits`, each batch's updates are first
 * checked for fields a person changed in the destination (remote-edits.ts).
 */
import type { Project } from "../config/load.ts";
import type { Destination } from "../destinations/destination.ts";
import { describeError, type FerryError, needsPerson } from "../errors.ts";
import type { Logger } from "../log.ts";
import { type DueRow, duePending, nextDue } from "../state/outbox.repo.ts";
import type { StateStore } from "../state/store.ts";
import type { RemoteEdits } from "../destinations/shared.config.ts";
import { sleep } from "../sleep.ts";
import { type Availability, availabilityOf } from "./availability.ts";
import { commitResults } from "./commit.ts";
import { type LeftToAnother, withDeliveryLease } from "./delivery-lease.ts";
import { type DeliveryRun, type DeliveryTally, emptyTally } from "./delivery-run.ts";
import { sendPage } from "./send.ts";

export type { DeliveryTally } from "./delivery-run.ts";

export interface DeliverOptions {
  log: Logger;
  signal?: AbortSignal;
  now?: () => Date;
  random?: () => number;
  /**
   * How long a command waits, in ms: for rows whose retry comes due within it, and for a destination that is
   * unavailable, before it gives up on it (its tally's `error` says why, and until when). 0 (the default):
   * one pass, nothing waited for, as `ferry serve`'s delivery loop does.
   */
  waitForRetriesMs?: number;
  onProgress?: (destination: string, tally: DeliveryTally) => void;
}

/** How long `ferry run`, `ferry deliver` and `ferry dlq replay` wait by default (`--wait`). */
export const DEFAULT_WAIT = "2m";

export async function deliverAll(
  project: Project,
  store: StateStore,
  destinations: ReadonlyMap<string, Destination>,
  options: DeliverOptions,
): Promise<Map<string, DeliveryTally>> {
  const out = new Map<string, DeliveryTally>();
  await Promise.all(
    [...destinations.values()].map(async (d) => {
      const { log, signal } = options;
      const leaseOptions = { log, waitMs: options.waitForRetriesMs ?? 0, ...(signal ? { signal } : {}) };
      const done = await withDeliveryLease(project, store, d, leaseOptions, (held) =>
        deliverTo(project, store, d, { ...options, signal: held }),
      );
      out.set(d.name, "heldBy" in done ? await leftToAnother(store, d, done, options) : done);
    }),
  );
  return out;
}

/** The tally of a delivery another process does: what is pending, and who delivers it. */
async function leftToAnother(store: StateStore, d: Destination, left: LeftToAnother, options: DeliverOptions): Promise<DeliveryTally> {
  const pending = await countPending(store, d.name);
  options.log.info({ destination: d.name, worker: left.heldBy.worker, pending }, `delivery left to another process: ${left.message}`);
  return { ...emptyTally(), pending, ...(pending > 0 ? { error: `${left.message}; ${pending} record(s) pending there` } : {}) };
}

function maxAttemptsOf(project: Project, destination: string): number {
  const cfg = project.config.destinations[destination] as { max_attempts?: number } | undefined;
  return cfg?.max_attempts ?? 5;
}

function remoteEditsOf(project: Project, destination: string): RemoteEdits {
  const cfg = project.config.destinations[destination] as { remote_edits?: RemoteEdits } | undefined;
  return cfg?.remote_edits ?? "overwrite";
}

export async function deliverTo(
  project: Project,
  store: StateStore,
  d: Destination,
  options: DeliverOptions,
): Promise<DeliveryTally> {
  const now = options.now ?? (() => new Date());
  const run: DeliveryRun = {
    project,
    store,
    destination: d,
    signal: options.signal ?? new AbortController().signal,
    now,
    random: options.random,
    log: options.log.child({ destination: d.name }),
    tally: emptyTally(),
    maxAttempts: maxAttemptsOf(project, d.name),
    pageSize: d.maxBatchSize * d.concurrency * 4,
    remoteEdits: { project, store, destination: d, mode: remoteEditsOf(project, d.name), now },
  };
  const availability = availabilityOf(d);
  const waitMs = options.waitForRetriesMs ?? 0;
  if (availability.due(now().getTime())) await deliverWhileDue(run, availability, waitMs, options.onProgress);
  await finish(run, availability, waitMs > 0);
  // A pass that found nothing to do says so only at debug level: `ferry serve` makes one every few seconds.
  const t = run.tally;
  const worked = t.delivered + t.dead + t.retried + t.held + t.pending > 0 || t.error !== undefined;
  run.log[worked ? "info" : "debug"](run.tally, "delivery finished");
  return run.tally;
}

/** Passes, as long as rows come due within the wait and the destination is not given up on. */
async function deliverWhileDue(run: DeliveryRun, availability: Availability, waitMs: number, onProgress: DeliverOptions["onProgress"]) {
  for (;;) {
    const down = await deliverPass(run, onProgress);
    if (run.signal.aborted) return;
    if (down) {
      availability.down(down, run.now().getTime());
      logDown(run, availability);
      if (!(await waitForRetry(run, availability, waitMs))) return;
      continue;
    }
    if (availability.downSince !== null) run.log.info({ since: iso(availability.downSince) }, "destination available again");
    availability.up();
    if (!(await nextPassDue(run, waitMs))) return;
  }
}

/**
 * One pass through the due rows in id order, a page at a time. Once a page's answers are in, the next page
 * is sent before they are committed: the destination works on it while Ferry writes. A page is sent only
 * once the one before has its answers, so two versions of one record are never in flight together. A page
 * that finds the destination down ends the pass, which returns what made it down.
 */
async function deliverPass(run: DeliveryRun, onProgress: DeliverOptions["onProgress"]): Promise<FerryError | null> {
  const { destination: d, tally } = run;
  let page = await duePage(run, 0);
  let sending = page.length > 0 ? sendPage(run, page) : null;
  let down: FerryError | null = null;
  while (sending) {
    const sent = await sending;
    const rows = page;
    if (sent.down) {
      down = sent.down;
      sending = null;
    } else {
      page = await duePage(run, rows.at(-1)!.id);
      sending = page.length > 0 ? sendPage(run, page) : null;
    }
    await commitResults(run, rows, sent);
    onProgress?.(d.name, { ...tally });
  }
  return down;
}

/** The next page of rows due, after the row `afterId`; none once delivery is aborted. */
function duePage(run: DeliveryRun, afterId: number): Promise<DueRow[]> {
  if (run.signal.aborted) return Promise.resolve([]);
  return duePending(run.store.knex, run.destination.name, run.now().toISOString(), run.pageSize, afterId);
}

/**
 * After a pass found the destination down: waits for its next try, when that comes before the destination
 * has been unavailable for the whole wait; false when this delivery gives up (or a person must act first).
 */
async function waitForRetry(run: DeliveryRun, availability: Availability, waitMs: number): Promise<boolean> {
  if (run.signal.aborted || needsPerson(availability.lastError)) return false;
  if (availability.retryAt > availability.downSince! + waitMs) return false;
  await sleep(Math.max(availability.retryAt - run.now().getTime(), 10), run.signal).catch(() => {});
  return !run.signal.aborted;
}

/**
 * The end of a pass that found the destination available: whether another one follows. Rows that failed in
 * it on their own and are due again within `waitMs` are taken by a new pass, once they are due.
 */
async function nextPassDue(run: DeliveryRun, waitMs: number): Promise<boolean> {
  if (run.signal.aborted) return false;
  const next = await nextDue(run.store.knex, run.destination.name);
  if (next === null) return false;
  const wait = Date.parse(next) - run.now().getTime();
  if (wait > waitMs) return false;
  await sleep(Math.max(wait, 10), run.signal).catch(() => {});
  return true;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A warning each time a try finds the destination down: since when, why, and when the next try is. */
function logDown(run: DeliveryRun, a: Availability): void {
  const inMs = Math.max(0, a.retryAt - run.now().getTime());
  const what = needsPerson(a.lastError) ? "destination refuses delivery until a person acts" : "destination down";
  run.log.warn(
    { err: describeError(a.lastError), since: iso(a.downSince!), next_try_at: iso(a.retryAt), next_try_in_ms: inMs },
    `${what}: records held, no attempt counted; next try in ${Math.ceil(inMs / 1000)} s`,
  );
}

/**
 * The tally's last word: what is still pending, and if anything is, why and when it is tried again. A
 * command that gave up says so; `ferry serve`'s loop says when its next try is.
 */
async function finish(run: DeliveryRun, a: Availability, gaveUp: boolean): Promise<void> {
  const { tally } = run;
  const name = run.destination.name;
  tally.pending = await countPending(run.store, name);
  if (tally.pending === 0) return;
  const pending = `${tally.pending} record(s) stay pending`;
  if (run.signal.aborted) {
    tally.error = `${name}: delivery interrupted; ${pending}, for the next ferry deliver or ferry serve`;
    return;
  }
  if (a.downSince !== null && a.lastError) {
    tally.errorCode = a.lastError.code;
    const next = needsPerson(a.lastError)
      ? "a person must act first; the next ferry deliver tries again at once"
      : gaveUp
        ? "next try: the next ferry deliver or ferry run (at once), or ferry serve's delivery loop"
        : `next try at ${iso(a.retryAt)}`;
    const what = needsPerson(a.lastError) ? "refuses delivery" : "unavailable";
    tally.error = `${name} ${what} since ${iso(a.downSince)}: ${describeError(a.lastError)}. ${pending}; ${next}`;
    return;
  }
  const due = await nextDue(run.store.knex, name);
  tally.error =
    `${name}: ${tally.pending} record(s) still pending, failed on their own and not due again yet; next try: ` +
    `at ${due}, by ferry serve or the next ferry deliver from then`;
}

async function countPending(store: StateStore, destination: string): Promise<number> {
  const pending = (await store.knex("outbox").where({ destination, status: "pending" }).count({ n: "*" }).first()) as {
    n: number | string;
  };
  return Number(pending.n);
}
