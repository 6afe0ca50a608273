/**
 * A page's answers, committed in one transaction: delivered rows and what was pushed where; rows held
 * without blame while the destination is unavailable (or a failure is still undecided); rows that failed
 * on their own, with an attempt counted, retried later or moved to the dead-letter queue with the request,
 * the answer and the reason. A record that fails on its own is named in the log.
 */
import { blamesDestination, type ItemResult, isUndecided } from "../destinations/destination.ts";
import { describeError } from "../errors.ts";
import { backoffDelay } from "../http/backoff.ts";
import { addDeadLetters, type DeadLetterWrite } from "../state/dead-letters.repo.ts";
import { type PushedRecord, recordPushed } from "../state/destination-records.repo.ts";
import { type DueRow, holdPending, markDelivered, markFailed } from "../state/outbox.repo.ts";
import type { Db } from "../state/store.ts";
import type { DeliveryRun } from "./delivery-run.ts";
import { applyRemoteEditEffects, type RemoteEditEffects } from "./remote-edits.ts";
import type { Sent } from "./send.ts";

type Failure = ItemResult & { ok: false };

/** What the dead-letter queue keeps of a failed exchange: method, URL, the record's part, the answer. */
function deadLetterOf(destination: string, row: DueRow, result: Failure, attempts: number): DeadLetterWrite {
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

export async function commitResults(run: DeliveryRun, rows: DueRow[], sent: Sent): Promise<void> {
  const { store, tally } = run;
  const byId = new Map(rows.map((r) => [r.id, r]));
  const at = run.now().toISOString();
  await store.knex.transaction(async (tx) => {
    const delivered: ItemResult[] = [];
    const held: number[] = [];
    const failed: Failure[] = [];
    for (const result of sent.results) {
      if (result.ok) delivered.push(result);
      else if (blamesDestination(result.error) || isUndecided(result.error)) held.push(result.outboxId);
      else failed.push(result);
    }
    await commitDelivered(run, tx, byId, delivered, sent.effects, at);
    tally.held += held.length;
    const why = sent.down ? describeError(sent.down) : "destination unavailable";
    await holdPending(tx, held, why, at);
    await commitFailed(run, tx, byId, failed, at);
  });
}

async function commitDelivered(
  run: DeliveryRun,
  tx: Db,
  byId: ReadonlyMap<number, DueRow>,
  results: ItemResult[],
  /** What the remote-edits check decided per record: committed only for records delivered (or kept). */
  effects: ReadonlyMap<number, RemoteEditEffects>,
  at: string,
): Promise<void> {
  const { tally } = run;
  const destination = run.destination.name;
  const pushed: PushedRecord[] = [];
  for (const result of results) {
    if (!result.ok) continue;
    const row = byId.get(result.outboxId)!;
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
      pushedJson: row.op === "delete" ? "{}" : decided ? JSON.stringify(decided.pushed) : row.propertiesJson,
      version: row.version,
      outboxId: row.id,
    });
  }
  await markDelivered(tx, results.map((r) => r.outboxId), at);
  await recordPushed(tx, at, pushed);
}

/** Records that failed on their own: an attempt counted; retried after a backoff, or dead-lettered. */
async function commitFailed(run: DeliveryRun, tx: Db, byId: ReadonlyMap<number, DueRow>, results: Failure[], at: string) {
  const { maxAttempts, tally } = run;
  const destination = run.destination.name;
  const dead: DeadLetterWrite[] = [];
  for (const result of results) {
    const row = byId.get(result.outboxId)!;
    const error = result.error;
    const attempts = row.attempts + 1;
    const isDead = error.kind !== "transient" || attempts >= maxAttempts;
    const retryAfterMs = (error as { retryAfterMs?: number }).retryAfterMs;
    const next = new Date(run.now().getTime() + backoffDelay(attempts, undefined, retryAfterMs, run.random)).toISOString();
    const message = `${describeError(error)}${isDead && error.kind === "transient" ? ` (gave up after ${attempts} attempts)` : ""}`;
    if (isDead) {
      tally.dead++;
      dead.push({ ...deadLetterOf(destination, row, result, attempts), reason: message });
    } else tally.retried++;
    run.log.warn(
      { entity: row.entity, key: row.key, code: error.code, attempts, max_attempts: maxAttempts, err: error.message },
      isDead ? "record dead-lettered: see ferry dlq" : "record failed on its own; it is sent again later",
    );
    await markFailed(tx, row.id, { status: isDead ? "dead" : "pending", attempts, nextAttemptAt: isDead ? at : next, error: message, at });
  }
  await addDeadLetters(tx, at, dead);
}
