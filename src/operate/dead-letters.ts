/**
 * The operator's side of the dead-letter queue: replay puts an entry's outbox row back to pending (its
 * attempts reset) so the next delivery sends it once more; discard closes the entry and leaves the row
 * dead. Both are recorded in the audit log. An entry whose record has moved on (a newer version was
 * queued, superseding it) is already closed and cannot be replayed.
 */
import { ConfigError } from "../errors.ts";
import { appendAudit } from "../state/audit.repo.ts";
import { type DeadLetter, getDeadLetter, listDeadLetters, resolveDeadLetters } from "../state/dead-letters.repo.ts";
import type { Db, StateStore } from "../state/store.ts";

export interface Selection {
  ids?: readonly number[];
  /** Every open entry of this destination. */
  destination?: string;
}

async function select(store: StateStore, selection: Selection): Promise<DeadLetter[]> {
  if (selection.ids && selection.ids.length > 0) {
    const out: DeadLetter[] = [];
    for (const id of selection.ids) {
      const entry = await getDeadLetter(store.knex, id);
      if (!entry) throw new ConfigError("DLQ_UNKNOWN_ENTRY", `no dead-letter entry ${id}: \`ferry dlq list\` shows the open ones`);
      if (entry.resolution !== null) {
        throw new ConfigError(
          "DLQ_ALREADY_RESOLVED",
          `dead-letter entry ${id} was already ${entry.resolution} (${entry.resolved_at} by ${entry.resolved_by})`,
        );
      }
      if (selection.destination && entry.destination !== selection.destination) continue;
      out.push(entry);
    }
    return out;
  }
  if (!selection.destination) throw new ConfigError("DLQ_NOTHING_SELECTED", "name entries by id, or give --destination for all of one destination's");
  return listDeadLetters(store.knex, { destination: selection.destination, limit: 1_000_000 });
}

async function audit(db: Db, entries: readonly DeadLetter[], action: string, actor: string, at: string) {
  for (const e of entries) {
    await appendAudit(db, {
      at,
      actor,
      action,
      entity: e.entity,
      key: e.key,
      details: { dead_letter: e.id, destination: e.destination, outbox_id: e.outbox_id, reason: e.reason },
    });
  }
}

/** Puts the selected entries' rows back into the outbox, to be delivered again. Returns the entries. */
export async function replayDeadLetters(store: StateStore, selection: Selection, actor: string, at = new Date()): Promise<DeadLetter[]> {
  const entries = await select(store, selection);
  const when = at.toISOString();
  await store.knex.transaction(async (tx) => {
    for (let i = 0; i < entries.length; i += 500) {
      const slice = entries.slice(i, i + 500);
      await tx("outbox")
        .whereIn("id", slice.map((e) => e.outbox_id))
        .where({ status: "dead" })
        .update({ status: "pending", attempts: 0, next_attempt_at: when, updated_at: when });
      await resolveDeadLetters(tx, slice.map((e) => e.id), "replayed", when, actor);
    }
    await audit(tx, entries, "dlq_replay", actor, when);
  });
  return entries;
}

/** Closes the selected entries without sending: the operator decided the change is not to be delivered. */
export async function discardDeadLetters(store: StateStore, selection: Selection, actor: string, at = new Date()): Promise<DeadLetter[]> {
  const entries = await select(store, selection);
  const when = at.toISOString();
  await store.knex.transaction(async (tx) => {
    for (let i = 0; i < entries.length; i += 500) {
      await resolveDeadLetters(tx, entries.slice(i, i + 500).map((e) => e.id), "discarded", when, actor);
    }
    await audit(tx, entries, "dlq_discard", actor, when);
  });
  return entries;
}
