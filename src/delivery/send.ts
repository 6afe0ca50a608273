/**
 * Sending a page of due outbox rows: batches of the size the destination declares, `concurrency` at a time,
 * each through the remote-edits check. A batch whose records fail undecided (a 500, an answer that does not
 * say what became of a record) is sent again in halves, down to single records, so that the healthy
 * records go through and the one the destination fails on is alone; then each undecided failure is judged:
 * the record's own (DEST_RECORD_FAILED, an attempt counted against it) when the destination took other
 * records, the destination's (the page is down, nothing blamed) when it took none. A destination that fails
 * every record is down, not a batch of poison records.
 */
import { blamesDestination, type DeliveryItem, type ItemResult, isUndecided } from "../destinations/destination.ts";
import { describeError, FerryError, TransientError } from "../errors.ts";
import { loadRemoteIds } from "../state/destination-records.repo.ts";
import type { DueRow } from "../state/outbox.repo.ts";
import type { DeliveryRun } from "./delivery-run.ts";
import { guardRemoteEdits, type RemoteEditEffects } from "./remote-edits.ts";

/** A page's answers, what the remote-edits check decided for its records, and whether the destination was down. */
export interface Sent {
  results: ItemResult[];
  effects: Map<number, RemoteEditEffects>;
  /** What made the destination unavailable, when it was: the pass ends, the page's undecided records are held. */
  down: FerryError | null;
}

/** What a page's sending has learnt so far, shared by its batches in flight. */
interface PageState {
  /** Some record of the page was written: the destination takes records. */
  delivered: boolean;
  /** Writes in a row that wrote nothing and failed undecided. */
  failing: number;
  /** The destination failed as a whole: no further batch of the page is sent. */
  down: FerryError | null;
}

type Failure = ItemResult & { ok: false };

const failure = (item: DeliveryItem, error: FerryError): Failure => ({ outboxId: item.outboxId, ok: false, error });

const asFerryError = (e: unknown): FerryError =>
  e instanceof FerryError ? e : new TransientError("DEST_UNAVAILABLE", describeError(e), { cause: e });

/**
 * Sends a page, at most `concurrency` batches at once, and stops sending once the destination is found down
 * (the batches not sent are answered with that error, to be held).
 */
export async function sendPage(run: DeliveryRun, rows: DueRow[]): Promise<Sent> {
  const d = run.destination;
  const items = await toItems(run, rows);
  const chunks: DeliveryItem[][] = [];
  for (let i = 0; i < items.length; i += d.maxBatchSize) chunks.push(items.slice(i, i + d.maxBatchSize));
  const answers: (ItemResult[] | undefined)[] = new Array(chunks.length);
  const effects = new Map<number, RemoteEditEffects>();
  const state: PageState = { delivered: false, failing: 0, down: null };
  let next = 0;
  const worker = async () => {
    while (next < chunks.length && !state.down) {
      const i = next++;
      answers[i] = await sendBatch(run, chunks[i]!, state, effects);
    }
  };
  await Promise.all(Array.from({ length: Math.min(d.concurrency, chunks.length) }, worker));
  const results = chunks.flatMap((chunk, i) => answers[i] ?? chunk.map((item) => failure(item, state.down!)));
  const judged = judge(rows, results, state);
  return { results: judged, effects, down: state.down };
}

/** One batch: the remote-edits check, then the write of what is left to send. */
async function sendBatch(run: DeliveryRun, chunk: DeliveryItem[], state: PageState, effects: Map<number, RemoteEditEffects>) {
  let guarded;
  try {
    guarded = await guardRemoteEdits(run.remoteEdits, chunk, run.signal);
  } catch (e) {
    // An update is never sent unguarded: a read that failed holds the batch (or fails its records).
    const error = asFerryError(e);
    if (blamesDestination(error) || isUndecided(error)) state.down ??= error;
    return chunk.map((item) => failure(item, error));
  }
  for (const [id, e] of guarded.effects) effects.set(id, e);
  run.tally.remoteEdits += guarded.withheld;
  if (guarded.send.length === 0) return guarded.kept;
  return [...guarded.kept, ...(await writeSplitting(run, guarded.send, state))];
}

/**
 * Writes items; those that fail undecided are written again in halves, and so on down to single records,
 * while the destination is not found down. Items the destination cannot write apart from their batch
 * (`splittable`) are not split: the page is down.
 */
async function writeSplitting(run: DeliveryRun, items: DeliveryItem[], state: PageState): Promise<ItemResult[]> {
  const results = await write(run, items);
  learn(run, state, results);
  const byId = new Map(results.map((r) => [r.outboxId, r]));
  const undecided = items.filter((i) => {
    const r = byId.get(i.outboxId);
    return r !== undefined && !r.ok && isUndecided(r.error);
  });
  if (undecided.length < 2 || state.down || run.signal.aborted) return results;
  if (!undecided.every((i) => run.destination.splittable?.(i) ?? false)) {
    state.down ??= (byId.get(undecided[0]!.outboxId) as Failure).error;
    return results;
  }
  const mid = Math.ceil(undecided.length / 2);
  for (const half of [undecided.slice(0, mid), undecided.slice(mid)]) {
    if (state.down || run.signal.aborted) break;
    for (const r of await writeSplitting(run, half, state)) byId.set(r.outboxId, r);
  }
  return items.map((i) => byId.get(i.outboxId) ?? failure(i, state.down!));
}

/** The destination's write; what it throws answers every item. */
async function write(run: DeliveryRun, items: DeliveryItem[]): Promise<ItemResult[]> {
  try {
    return await run.destination.write(items, run.signal);
  } catch (e) {
    const error = asFerryError(e);
    return items.map((item) => failure(item, error));
  }
}

/**
 * What a write says of the destination: it takes records (one was written), it is down (an error that
 * blames it), or it failed undecided once more. So many undecided writes in a row that no single poison
 * record could explain them (a split to one record of a full batch, twice over) make it down.
 */
function learn(run: DeliveryRun, state: PageState, results: ItemResult[]): void {
  const written = results.some((r) => r.ok && r.action !== "kept" && r.action !== "absent");
  const undecided = results.find((r): r is Failure => !r.ok && isUndecided(r.error));
  if (written) {
    state.delivered = true;
    state.failing = 0;
  } else if (undecided && ++state.failing >= undecidedLimit(run.destination.maxBatchSize)) state.down ??= undecided.error;
  const down = results.find((r): r is Failure => !r.ok && blamesDestination(r.error));
  if (down) state.down ??= down.error;
}

/** Undecided writes in a row that make a destination down: twice the halvings from a full batch to one record. */
export const undecidedLimit = (maxBatchSize: number) => Math.max(5, 2 * (Math.ceil(Math.log2(Math.max(2, maxBatchSize))) + 1));

/**
 * Whom each undecided failure blames, once its batch is split: the record, when the destination took other
 * records of the page or the record has failed on its own before (its attempts); the destination otherwise,
 * which is then down. While the destination is down, nothing is blamed.
 */
function judge(rows: DueRow[], results: ItemResult[], state: PageState): ItemResult[] {
  if (state.down) return results;
  const attempts = new Map(rows.map((r) => [r.id, r.attempts]));
  return results.map((r) => {
    if (r.ok || !isUndecided(r.error) || state.down) return r;
    if (state.delivered || (attempts.get(r.outboxId) ?? 0) > 0) return { ...r, error: recordFailed(r.error) };
    state.down = r.error;
    return r;
  });
}

/** An undecided failure, blamed on its record: retried, then dead-lettered, with the answer it got. */
const recordFailed = (error: FerryError) =>
  new TransientError("DEST_RECORD_FAILED", `${error.message}; it fails on this record alone, the others go through`, {
    details: error.details,
    cause: error,
  });

async function toItems(run: DeliveryRun, rows: DueRow[]): Promise<DeliveryItem[]> {
  const destination = run.destination.name;
  const remote = new Map<string, Map<string, string | null>>();
  for (const entity of new Set(rows.map((r) => r.entity))) {
    const keys = rows.filter((r) => r.entity === entity).map((r) => r.key);
    remote.set(entity, await loadRemoteIds(run.store.knex, destination, entity, keys));
  }
  return rows.map((r) => {
    const mapping = run.project.mappings.get(r.entity)!.config.destinations[destination]!;
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
