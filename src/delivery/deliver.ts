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
  duePending,
  loadRemoteIds,
  markDelivered,
  markFailed,
  nextDue,
  type OutboxRow,
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

  for (;;) {
    if (signal.aborted) break;
    const rows = await duePending(store.knex, d.name, now().toISOString(), pageSize);
    if (rows.length === 0) {
      const next = await nextDue(store.knex, d.name);
      if (next === null) break;
      const wait = Date.parse(next) - now().getTime();
      if (wait > (options.waitForRetriesMs ?? 0)) break;
      await sleep(Math.max(wait, 10), signal).catch(() => {});
      continue;
    }
    const items = await toItems(project, store, d.name, rows);
    const chunks: DeliveryItem[][] = [];
    for (let i = 0; i < items.length; i += d.maxBatchSize) chunks.push(items.slice(i, i + d.maxBatchSize));
    let results: ItemResult[][];
    try {
      results = await Promise.all(chunks.map((chunk) => d.write(chunk, signal)));
    } catch (e) {
      // The destination as a whole is unreachable, failing, or refuses the credentials: stop this pass and
      // leave every row pending, attempts untouched; the next pass (`ferry deliver`, `ferry serve`) resumes.
      tally.error = describeError(e);
      log.error({ err: tally.error }, "delivery paused: the destination is unavailable");
      break;
    }
    await commitResults(store, d.name, rows, results.flat(), maxAttempts, now, options.random, tally);
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
  rows: OutboxRow[],
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
  rows: OutboxRow[],
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
          pushed: row.op === "delete" ? {} : row.properties,
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
