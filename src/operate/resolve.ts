/**
 * An operator settles a conflict: take one source's value (or a destination's, for an edit made there), or
 * enter a value. The golden record, the conflict, the audit log and the outbox change in one transaction.
 */
import type { Project } from "../config/load.ts";
import { destinationOf, resolveField, withdraw } from "../engine/merge.ts";
import { plan, project as projectOnto } from "../engine/plan.ts";
import type { Value } from "../engine/types.ts";
import { converterFor } from "../engine/values.ts";
import { ConfigError } from "../errors.ts";
import { DELETED_FIELD } from "../runner/deletes.ts";
import { appendAudit } from "../state/audit.repo.ts";
import { closeConflict, getConflict } from "../state/conflicts.repo.ts";
import { rememberRemoteValues } from "../state/destination-records.repo.ts";
import { getGolden, writeGolden } from "../state/golden.repo.ts";
import { enqueue } from "../state/outbox.repo.ts";
import { deleteSnapshots } from "../state/snapshots.repo.ts";
import type { StateStore } from "../state/store.ts";

export type Decision = { use: string } | { value: string };

export interface Resolution {
  id: number;
  entity: string;
  key: string;
  field: string;
  before: Value;
  after: Value;
  source: string;
  outbox: number;
}

const usage = (message: string) => new ConfigError("CONFLICT_RESOLUTION_INVALID", message);

export async function resolveConflict(
  project: Project,
  store: StateStore,
  id: number,
  decision: Decision,
  actor: string,
  now: Date = new Date(),
): Promise<Resolution> {
  const at = now.toISOString();
  return store.knex.transaction(async (tx) => {
    const conflict = await getConflict(tx, id);
    if (!conflict) throw usage(`no conflict #${id}: list them with \`ferry conflicts list\``);
    if (conflict.status !== "open") throw usage(`conflict #${id} is already ${conflict.status}`);
    const mapping = project.mappings.get(conflict.entity)?.config;
    const record = await getGolden(tx, conflict.entity, conflict.key);
    if (!mapping || !record)
      throw usage(
        `conflict #${id} refers to ${conflict.entity} ${conflict.key}, which Ferry no longer holds`,
      );

    const choices = [
      { source: conflict.current.source, value: conflict.current.value },
      ...conflict.candidates,
    ];
    let value: Value;
    let source: string;
    if (conflict.field === DELETED_FIELD && "use" in decision) {
      throw usage(`conflict #${id} is about a deleted record: resolve it with --value true (delete) or --value false (keep)`);
    }
    if ("use" in decision) {
      const chosen = choices.find((c) => c.source === decision.use);
      if (!chosen)
        throw usage(
          `source "${decision.use}" is not part of conflict #${id}: choose one of ${choices.map((c) => c.source).join(", ")}`,
        );
      value = chosen.value;
      source = chosen.source;
    } else if (conflict.field === DELETED_FIELD) {
      if (!/^(true|false)$/.test(decision.value))
        throw usage("a delete conflict takes --value true (delete) or --value false (keep)");
      value = decision.value === "true";
      source = "operator";
    } else {
      const type = mapping.fields[conflict.field]?.type ?? "string";
      try {
        value = converterFor(type)(decision.value);
      } catch (e) {
        throw usage(`--value for ${conflict.field}: ${(e as Error).message}`);
      }
      source = "operator";
    }

    let next = record;
    if (conflict.field === DELETED_FIELD) {
      const deletingSource = conflict.candidates[0]?.source ?? conflict.current.source;
      // Either way the source's stale snapshot goes, so the next run does not ask again.
      await deleteSnapshots(tx, conflict.entity, deletingSource, [conflict.key]);
      if (value === true) next = withdraw(record, "deleted");
    } else {
      next = resolveField(record, conflict.field, {
        value,
        source,
        sourceTime: null,
        run: "operator",
        at,
      }).record;
      const { conflicted: _, ...field } = next.fields[conflict.field]!;
      next = { ...next, fields: { ...next.fields, [conflict.field]: field } };
    }
    // A destination holding a person's edit that the decision overrules gets the decided value, even when
    // the golden value stays as it was; what it holds becomes the baseline, so the push is no new edit.
    const overruled =
      conflict.field === DELETED_FIELD
        ? []
        : conflict.candidates.flatMap((c) => {
            const destination = destinationOf(c.source);
            const property = destination === undefined ? undefined : mapping.destinations[destination]?.fields[conflict.field];
            return destination !== undefined && c.value !== value && property ? [{ destination, property, held: c.value }] : [];
          });
    if (overruled.length > 0 && next.version === record.version) next = { ...next, version: record.version + 1 };
    await writeGolden(tx, null, at, [next]);
    const planned = plan(mapping.destinations, record, next);
    for (const o of overruled) {
      await rememberRemoteValues(tx, o.destination, conflict.entity, conflict.key, { [o.property]: o.held }, at);
      const intent = planned.find((i) => i.destination === o.destination);
      if (intent && intent.op === "upsert" && !intent.changed.includes(o.property)) intent.changed.push(o.property);
      else if (!intent && next.status !== "deleted") {
        const properties = projectOnto(next, mapping.destinations[o.destination]!);
        planned.push({ destination: o.destination, op: "upsert", properties, changed: [o.property] });
      }
    }
    const intents = planned.map((i) => ({ ...i, entity: conflict.entity, key: conflict.key, version: next.version }));
    const outbox = await enqueue(tx, null, at, intents);
    await closeConflict(tx, id, "resolved", at, { by: actor, ...decision, value, source });
    const before = conflict.field === DELETED_FIELD ? false : (record.fields[conflict.field]?.value ?? null);
    await appendAudit(tx, {
      at,
      actor,
      action: "conflict.resolve",
      entity: conflict.entity,
      key: conflict.key,
      field: conflict.field,
      before,
      after: value,
      details: { conflict: id, source },
    });
    return {
      id,
      entity: conflict.entity,
      key: conflict.key,
      field: conflict.field,
      before,
      after: value,
      source,
      outbox,
    };
  });
}
