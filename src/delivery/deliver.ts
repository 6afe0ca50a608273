/**
 * Delivery: drains the outbox, destination by destination, in batches the destination declares, with
 * per-item outcomes. A delivered row records what was pushed where. A row the API refuses, or that keeps
 * failing, goes to the dead-letter queue with its request, the answer and the reason. A destination that is
 * down (unreachable, 5xx after retries, circuit open, credentials refused) blames no record: its rows stay
 * pending with their attempts untouched, the pass pauses, and the next pass (this run's, when it is due
 * soon enough, or `ferry serve`'s delivery loop) resumes. A crash between the API's answer and the commit
 * leaves the row pending: it is sent again, and the destination's lookup-before-create (or upsert) makes the
 * second send an update, not a duplicate. Under `remote_edits`, each batch's updates are first checked for
 * fields a person changed in the destination (remote-edits.ts).
 */
import type { Project } from "../config/load.ts";
import { blamesDestination, type DeliveryItem, type Destination, type ItemResult } from "../destinations/destination.ts";
import { describeError, type FerryError, needsPerson, TransientError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { addDeadLetters, type DeadLetterWrite } from "../state/dead-letters.repo.ts";
import { loadRemoteIds, type PushedRecord, recordPushed } from "../state/destination-records.repo.ts";
import { type DueRow, duePending, holdPending, markDelivered, markFailed, nextDue } from "../state/outbox.repo.ts";
import type { StateStore } from "../state/store.ts";
import type { RemoteEdits } from "../destinations/shared.config.ts";
import { backoffDelay } from "../http/backoff.ts";
import { sleep } from "../sleep.ts";
import { applyRemoteEditEffects, guardRemoteEdits, type RemoteEditEffects, type RemoteEditsContext } from "./remote-edits.ts";

export interface DeliverOptions {
  log: Logger;
  signal?: AbortSignal;
  now?: () => Date;
  random?: () => number;
  /** Wait for rows whose retry is due within this many ms (a run drains what it can); 0 = don't wait. */
  waitForRetriesMs?: number;
  onProgress?: (destination: string, tally: DeliveryTally) => void;
}

export interface DeliveryTally {
  delivered: number;
  created: number;
  updated: number;
  deleted: number;
  retried: number;
  dead: number;
  /** Sends held back because the destination as a whole was unavailable (no attempt counted). */
  held: number;
  /** Fields an update left alone because a person changed them in the destination (`remote_edits`). */
  remoteEdits: number;
  /** Still pending when delivery stopped (retries not yet due). */
  pending: number;
  error?: string;
}

const emptyTally = (): DeliveryTally => ({
  delivered: 0,
  created: 0,
  updated: 0,
  deleted: 0,
  retried: 0,
  dead: 0,
  held: 0,
  remoteEdits: 0,
  pending: 0,
});

/** A page's answers, and what the remote-edits check decided for its records. */
interface Sent {
  results: ItemResult[];
  effects: Map<number, RemoteEditEffects>;
}

export async function deliverAll(
  project: Project,
  store: StateStore,
  destinations: ReadonlyMap<string, Destination>,
  options: DeliverOptions,
): Promise<Map<string, DeliveryTally>> {
  const out = new Map<string, DeliveryTally>();
  await Promise.all(
    [...destinations.values()].map(async (d) => {
      out.set(d.name, await deliverTo(project, store, d, options));
    }),
  );
  return out;
}

function maxAttemptsOf(project: Project, destination: string): number {
  const cfg = project.config.destinations[destination] as { max_attempts?: number } | undefined;
  return cfg?.max_attempts ?? 5;
}

function remoteEditsOf(project: Project, destination: string): RemoteEdits {
  const cfg = project.config.destinations[destination] as { remote_edits?: RemoteEdits } | undefined;
  return cfg?.remote_edits ?? "overwrite";
}

/** One destination's delivery: what each of its steps needs. */
interface DeliveryRun {
  project: Project;
  store: StateStore;
  destination: Destination;
  signal: AbortSignal;
  now: () => Date;
  random: (() => number) | undefined;
  log: Logger;
  tally: DeliveryTally;
  maxAttempts: number;
  /**
   * Rows read and sent at a time. A page holds several rounds of `concurrency` batches: the pause between
   * pages (committing one, reading the next) then costs little of a rate-limited destination's allowance.
   */
  pageSize: number;
  remoteEdits: RemoteEditsContext;
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
  do {
    await deliverPass(run, options.onProgress);
  } while (await nextPassDue(run, options.waitForRetriesMs ?? 0));

  const { tally } = run;
  tally.pending = await countPending(store, d.name);
  if (tally.pending === 0) delete tally.error;
  run.log.info(tally, "delivery finished");
  return tally;
}

/**
 * One pass through the due rows in id order, a page at a time. Once a page's answers are in, the next page
 * is sent before they are committed: the destination works on it while Ferry writes. A page is sent only
 * once the one before has its answers, so two versions of one record are never in flight together. A page
 * that finds the destination down ends the pass.
 */
async function deliverPass(run: DeliveryRun, onProgress: DeliverOptions["onProgress"]): Promise<void> {
  const { destination: d, tally } = run;
  let page = await duePage(run, 0);
  let sending = page.length > 0 ? sendPage(run, page) : null;
  while (sending) {
    const { results, effects } = await sending;
    const sent = page;
    const down = results.find((r) => !r.ok && blamesDestination(r.error));
    if (down) {
      sending = null;
      tally.error = describeError((down as ItemResult & { ok: false }).error);
      run.log.warn({ err: tally.error }, "delivery paused: the destination is unavailable");
    } else {
      page = await duePage(run, sent.at(-1)!.id);
      sending = page.length > 0 ? sendPage(run, page) : null;
    }
    await commitResults(run, sent, results, effects);
    onProgress?.(d.name, { ...tally });
  }
}

/** The next page of rows due, after the row `afterId`; none once delivery is aborted. */
function duePage(run: DeliveryRun, afterId: number): Promise<DueRow[]> {
  if (run.signal.aborted) return Promise.resolve([]);
  return duePending(run.store.knex, run.destination.name, run.now().toISOString(), run.pageSize, afterId);
}

/**
 * The end of a pass: whether another one follows. Rows that failed in it and are due again within
 * `waitForRetriesMs` are taken by a new pass, once they are due.
 */
async function nextPassDue(run: DeliveryRun, waitForRetriesMs: number): Promise<boolean> {
  if (run.signal.aborted) return false;
  const next = await nextDue(run.store.knex, run.destination.name);
  if (next === null) return false;
  const wait = Date.parse(next) - run.now().getTime();
  if (wait > waitForRetriesMs) return false;
  await sleep(Math.max(wait, 10), run.signal).catch(() => {});
  return true;
}

async function countPending(store: StateStore, destination: string): Promise<number> {
  const pending = (await store.knex("outbox").where({ destination, status: "pending" }).count({ n: "*" }).first()) as {
    n: number | string;
  };
  return Number(pending.n);
}

/**
 * Sends a page, at most `concurrency` batches at once; a batch whose write throws answers that error per
 * item. Under `remote_edits`, each batch's updates are first checked against what the destination holds.
 */
async function sendPage(run: DeliveryRun, rows: DueRow[]): Promise<Sent> {
  const { destination: d, signal, tally } = run;
  const items = await toItems(run.project, run.store, d.name, rows);
  const chunks: DeliveryItem[][] = [];
  for (let i = 0; i < items.length; i += d.maxBatchSize) chunks.push(items.slice(i, i + d.maxBatchSize));
  const answers: ItemResult[][] = new Array(chunks.length);
  const effects = new Map<number, RemoteEditEffects>();
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const i = next++;
      try {
        const guarded = await guardRemoteEdits(run.remoteEdits, chunks[i]!, signal);
        for (const [id, e] of guarded.effects) effects.set(id, e);
        tally.remoteEdits += guarded.withheld;
        answers[i] = guarded.send.length > 0 ? [...guarded.kept, ...(await d.write(guarded.send, signal))] : guarded.kept;
      } catch (e) {
        const error = e instanceof Error && "code" in e ? (e as FerryError) : new TransientError("DEST_UNAVAILABLE", describeError(e), { cause: e });
        answers[i] = chunks[i]!.map((item): ItemResult => ({ outboxId: item.outboxId, ok: false, error }));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(d.concurrency, chunks.length) }, worker));
  return { results: answers.flat(), effects };
}

async function toItems(project: Project, store: StateStore, destination: string, rows: DueRow[]): Promise<DeliveryItem[]> {
  const remote = new Map<string, Map<string, string | null>>();
  for (const entity of new Set(rows.map((r) => r.entity))) {
    const keys = rows.filter((r) => r.entity === entity).map((r) => r.key);
    remote.set(entity, await loadRemoteIds(store.knex, destination, entity, keys));
  }
  return rows.map((r) => {
    const mapping = project.mappings.get(r.entity)!.config.destinations[destination]!;
    return {
      outboxId: r.id,
      entity: r.entity,
      key: r.key,
      op: r.op,
      object: mapping.object,
      match: { property: mapping.match.property, value: r.key },
      properties: r.properties,
      changed: r.changed,
      remoteId: remote.get(r.entity)?.get(r.key) ?? null,
      idempotencyKey: r.idempotency_key,
    };
  });
}

/** What the dead-letter queue keeps of a failed exchange: method, URL, the record's part, the answer. */
function deadLetterOf(destination: string, row: DueRow, result: ItemResult & { ok: false }, attempts: number): DeadLetterWrite {
  const error = result.error;
  const details = (error.details ?? {}) as { method?: string; url?: string; status?: number; body?: string; network?: string };
  return {
    outboxId: row.id,
    destination,
    entity: row.entity,
    key: row.key,
    version: row.version,
    code: error.code,
    reason: error.message,
    request: {
      ...(details.method ? { method: details.method, url: details.url } : {}),
      record: result.request ?? { op: row.op, key: row.key, properties: row.properties },
    },
    response:
      details.status !== undefined
        ? { status: details.status, body: details.body }
        : details.network
          ? { network_error: details.network }
          : null,
    attempts,
  };
}

async function commitResults(
  run: DeliveryRun,
  rows: DueRow[],
  results: ItemResult[],
  /** What the remote-edits check decided per record: committed only for records delivered (or kept). */
  effects: ReadonlyMap<number, RemoteEditEffects>,
) {
  const { store, maxAttempts, now, random, tally } = run;
  const destination = run.destination.name;
  const byId = new Map(rows.map((r) => [r.id, r]));
  const at = now().toISOString();
  await store.knex.transaction(async (tx) => {
    const delivered: number[] = [];
    const pushed: PushedRecord[] = [];
    const held: number[] = [];
    let heldUntil = 0;
    const dead: DeadLetterWrite[] = [];
    for (const result of results) {
      const row = byId.get(result.outboxId)!;
      if (result.ok) {
        delivered.push(row.id);
        tally.delivered++;
        if (result.action === "created") tally.created++;
        else if (result.action === "updated") tally.updated++;
        else if (result.action !== "kept") tally.deleted++;
        const decided = effects.get(row.id);
        if (decided) await applyRemoteEditEffects(tx, decided, at);
        pushed.push({
          destination,
          entity: row.entity,
          key: row.key,
          remoteId: row.op === "delete" ? null : result.remoteId,
          pushedJson: row.op === "delete" ? "{}" : effects.has(row.id) ? JSON.stringify(effects.get(row.id)!.pushed) : row.propertiesJson,
          version: row.version,
          outboxId: row.id,
        });
        continue;
      }
      const error = result.error;
      if (blamesDestination(error)) {
        held.push(row.id);
        tally.held++;
        const retryAfterMs = (error as { retryAfterMs?: number }).retryAfterMs;
        // Refused credentials (a folder, a host key) need a person: wait long enough that a run does not keep knocking.
        const wait = needsPerson(error) ? 15 * 60_000 : backoffDelay(1, undefined, retryAfterMs, random);
        heldUntil = Math.max(heldUntil, wait);
        continue;
      }
      const attempts = row.attempts + 1;
      const isDead = error.kind !== "transient" || attempts >= maxAttempts;
      const retryAfterMs = (error as { retryAfterMs?: number }).retryAfterMs;
      const next = new Date(now().getTime() + backoffDelay(attempts, undefined, retryAfterMs, random)).toISOString();
      const message = `${describeError(error)}${isDead && error.kind === "transient" ? ` (gave up after ${attempts} attempts)` : ""}`;
      if (isDead) {
        tally.dead++;
        dead.push({ ...deadLetterOf(destination, row, result, attempts), reason: message });
      } else tally.retried++;
      await markFailed(tx, row.id, {
        status: isDead ? "dead" : "pending",
        attempts,
        nextAttemptAt: isDead ? at : next,
        error: message,
        at,
      });
    }
    await markDelivered(tx, delivered, at);
    await recordPushed(tx, at, pushed);
    await holdPending(tx, held, new Date(now().getTime() + heldUntil).toISOString(), tally.error ?? "destination unavailable", at);
    await addDeadLetters(tx, at, dead);
  });
}
