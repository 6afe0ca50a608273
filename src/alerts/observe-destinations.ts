/**
 * What the rules about destinations observe in the state store (the outbox, the dead-letter queue), never
 * in a destination: `destination_down` and `dead_letters_above`, per destination.
 */
import type { AlertRule } from "../config/project.schema.ts";
import { durationMs } from "../config/duration.ts";
import { deadLetterCounts, latestOpenDeadLetter } from "../state/dead-letters.repo.ts";
import { OVERDUE_COUNT_CAP, overdueRows } from "../state/outbox.repo.ts";
import { clip, errorCodeOf, type Observation } from "./decide.ts";
import type { ObserveContext } from "./observe-jobs.ts";

/** The destinations a rule watches: its `destinations:`, else every destination of the project. */
function destinationsOf(ctx: ObserveContext, rule: AlertRule): string[] {
  const only = "destinations" in rule ? rule.destinations : undefined;
  return Object.keys(ctx.project.config.destinations).filter((d) => !only || only.includes(d));
}

/**
 * `destination_down`: a destination is bad while it has pending rows that have been due for longer than
 * `for` (a destination that is down keeps its rows due, no attempt counted), good once none has.
 */
export async function observeDestinationDown(ctx: ObserveContext, rule: AlertRule & { when: "destination_down" }): Promise<Observation[]> {
  const before = new Date(ctx.now.valueOf() - durationMs(rule.for)).toISOString();
  const out: Observation[] = [];
  for (const destination of destinationsOf(ctx, rule)) {
    const overdue = await overdueRows(ctx.db, destination, before);
    const base = { destination, console_path: "/destinations" };
    if (!overdue.oldest) {
      out.push({ subject: destination, state: "good", facts: { ...base, summary: `destination ${destination}: no record overdue any more`, at: ctx.now.toISOString() } });
      continue;
    }
    const count = overdue.count >= OVERDUE_COUNT_CAP ? `at least ${OVERDUE_COUNT_CAP}` : String(overdue.count);
    const error = overdue.oldest.last_error ? clip(overdue.oldest.last_error) : null;
    const summary =
      `destination ${destination} looks down: ${count} record(s) due for more than ${rule.for} not delivered, the oldest due since ` +
      `${overdue.oldest.next_attempt_at}; ${error ? `last error: ${error}` : "no attempt recorded (is ferry serve delivering?)"}`;
    const facts = {
      ...base,
      summary,
      at: overdue.oldest.next_attempt_at,
      run_id: overdue.oldest.run_id,
      error_code: errorCodeOf(overdue.oldest.last_error),
      error,
      overdue: overdue.count,
    };
    out.push({ subject: destination, state: "bad", facts });
  }
  return out;
}

/** `dead_letters_above`: a destination is bad while its open dead letters are more than `threshold`. */
export async function observeDeadLetters(ctx: ObserveContext, rule: AlertRule & { when: "dead_letters_above" }): Promise<Observation[]> {
  const open = new Map((await deadLetterCounts(ctx.db)).map((c) => [c.destination, c.open]));
  const out: Observation[] = [];
  for (const destination of destinationsOf(ctx, rule)) {
    const count = open.get(destination) ?? 0;
    const base = { destination, open_dead_letters: count, threshold: rule.threshold, console_path: "/dead-letters" };
    if (count <= rule.threshold) {
      const summary = `destination ${destination}: ${count} open dead letter(s), at or under the threshold of ${rule.threshold}`;
      out.push({ subject: destination, state: "good", facts: { ...base, summary, at: ctx.now.toISOString() } });
      continue;
    }
    const newest = await latestOpenDeadLetter(ctx.db, destination);
    const about = newest ? `; the newest: ${newest.entity} ${newest.key}, ${newest.code}: ${clip(newest.reason, 300)}` : "";
    const summary = `destination ${destination}: ${count} open dead letter(s), more than the threshold of ${rule.threshold}${about}; replay or discard them with ferry dlq`;
    const facts = { ...base, summary, at: newest?.dead_at ?? ctx.now.toISOString(), error_code: newest?.code ?? null, run_id: null };
    out.push({ subject: destination, state: "bad", facts });
  }
  return out;
}
