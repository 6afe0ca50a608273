/**
 * Delivery: drains the outbox, destination by destination, in batches the destination declares, with
 * per-item outcomes. A delivered row records what was pushed where; a failed one is retried with backoff
 * and, once it fails permanently or runs out of attempts, is marked dead with its reason. A crash between
 * the API's answer and the commit leaves the row pending: it is sent again, and the destination's
 * lookup-before-create makes the second send an update, not a duplicate.
 */
import type { Project } from "../config/load.ts";
import type { DeliveryItem, Destination, ItemResult } from "../destinations/destination.ts";
import { describeError, type FerryError } from "../errors.ts";
import type { Logger } from "../log.ts";
import {
  type DueRow,
  duePending,
  loadRemoteIds,
  markDelivered,
  markFailed,
  nextDue,
  type PushedRecord,
  recordPushed,
} from "../state/outbox.repo.ts";
import type { StateStore } from "../state/store.ts";
import { backoffDelay, sleep } from "./backoff.ts";

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
  pending: 0,
});

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

export async function deliverTo(
  project: Project,
  store: StateStore,
  d: Destination,
  options: DeliverOptions,
): Promise<DeliveryTally> {
  const now = options.now ?? (() => new Date());
  const signal = options.signal ?? new AbortController().signal;
  const log = options.log.child({ destination: d.name });
  const tally = emptyTally();
  const maxAttempts = maxAttemptsOf(project, d.name);
  const pageSize = d.maxBatchSize * d.concurrency;

  /** Sends a page, `concurrency` batches at once; settles with the results, or the error that stopped it. */
  const send = async (rows: DueRow[]): Promise<{ results: ItemResult[] } | { error: unknown }> => {
    try {
      const items = await toItems(project, store, d.name, rows);
      const chunks: DeliveryItem[][] = [];
      for (let i = 0; i < items.length; i += d.maxBatchSize) chunks.push(items.slice(i, i + d.maxBatchSize));
      return { results: (await Promise.all(chunks.map((chunk) => d.write(chunk, signal)))).flat() };
    } catch (error) {
      return { error };
    }
  };
  const due = (afterId: number) =>
    signal.aborted ? Promise.resolve([]) : duePending(store.knex, d.name, now().toISOString(), pageSize, afterId);

  // A pass walks through the due rows in id order, a page at a time. Once a page's answers are in, the next
  // page is sent before they are committed: the destination works on it while Ferry writes. A page is sent
  // only once the one before has its answers, so two versions of one record are never in flight together.
  let afterId = 0;
  let page = await due(afterId);
  let sending = page.length > 0 ? send(page) : null;
  for (;;) {
    if (!sending) {
      // The end of a pass. Rows that failed in it and are due again are taken by a new pass.
      if (afterId === 0) {
        if (signal.aborted) break;
        const next = await nextDue(store.knex, d.name);
        if (next === null) break;
        const wait = Date.parse(next) - now().getTime();
        if (wait > (options.waitForRetriesMs ?? 0)) break;
        await sleep(Math.max(wait, 10), signal).catch(() => {});
      }
      afterId = 0;
      page = await due(afterId);
      sending = page.length > 0 ? send(page) : null;
      continue;
    }
    const outcome = await sending;
    if ("error" in outcome) {
      // The destination as a whole is unreachable, failing, or refuses the credentials: stop this pass and
      // leave every row pending, attempts untouched; the next pass (`ferry deliver`, `ferry serve`) resumes.
      tally.error = describeError(outcome.error);
      log.error({ err: tally.error }, "delivery paused: the destination is unavailable");
      break;
    }
    const sent = page;
    afterId = sent.at(-1)!.id;
    page = await due(afterId);
    sending = page.length > 0 ? send(page) : null;
    await commitResults(store, d.name, sent, outcome.results, maxAttempts, now, options.random, tally);
    options.onProgress?.(d.name, { ...tally });
  }
  const pending = (await store
    .knex("outbox")
    .where({ destination: d.name, status: "pending" })
    .count({ n: "*" })
    .first()) as {
    n: number | string;
  };
  tally.pending = Number(pending.n);
  log.info(tally, "delivery finished");
  return tally;
}

async function toItems(
  project: Project,
  store: StateStore,
  destination: string,
  rows: DueRow[],
): Promise<DeliveryItem[]> {
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

async function commitResults(
  store: StateStore,
  destination: string,
  rows: DueRow[],
  results: ItemResult[],
  maxAttempts: number,
  now: () => Date,
  random: (() => number) | undefined,
  tally: DeliveryTally,
) {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const at = now().toISOString();
  await store.knex.transaction(async (tx) => {
    const delivered: number[] = [];
    const pushed: PushedRecord[] = [];
    for (const result of results) {
      const row = byId.get(result.outboxId)!;
      if (result.ok) {
        delivered.push(row.id);
        tally.delivered++;
        if (result.action === "created") tally.created++;
        else if (result.action === "updated") tally.updated++;
        else tally.deleted++;
        pushed.push({
          destination,
          entity: row.entity,
          key: row.key,
          remoteId: row.op === "delete" ? null : result.remoteId,
          pushedJson: row.op === "delete" ? "{}" : row.propertiesJson,
          version: row.version,
          outboxId: row.id,
        });
        continue;
      }
      const error = result.error as FerryError;
      const attempts = row.attempts + 1;
      const dead = error.kind !== "transient" || attempts >= maxAttempts;
      const retryAfterMs = (error as { retryAfterMs?: number }).retryAfterMs;
      const next = new Date(
        now().getTime() + backoffDelay(attempts, undefined, retryAfterMs, random),
      ).toISOString();
      if (dead) tally.dead++;
      else tally.retried++;
      await markFailed(tx, row.id, {
        status: dead ? "dead" : "pending",
        attempts,
        nextAttemptAt: dead ? at : next,
        error: `${describeError(error)}${dead && error.kind === "transient" ? ` (gave up after ${attempts} attempts)` : ""}`,
        at,
      });
    }
    await markDelivered(tx, delivered, at);
    await recordPushed(tx, at, pushed);
  });
}
