/**
 * An operator settles a conflict: take one source's value (or a destination's, for an edit made there), or
 * enter a value. The golden record, the conflict, the audit log and the outbox change in one transaction.
 */
import type { Project } from "../config/load.ts";
import type { MappingConfig } from "../config/mapping.schema.ts";
import { destinationOf, holdersOf, merge, mergeRules, resolveField } from "../engine/merge.ts";
import { plan, project as projectOnto } from "../engine/plan.ts";
import type { GoldenRecord, Observation, Value } from "../engine/types.ts";
import { converterFor } from "../engine/values.ts";
import { ConfigError, FerryError } from "../errors.ts";
import { DELETED_FIELD } from "../runner/deletes.ts";
import { appendAudit } from "../state/audit.repo.ts";
import { closeConflict, type ConflictRow, getConflict } from "../state/conflicts.repo.ts";
import { rememberRemoteValues } from "../state/destination-records.repo.ts";
import { getGolden, writeGolden } from "../state/golden.repo.ts";
import { enqueue, type OutboxWrite } from "../state/outbox.repo.ts";
import { deleteSnapshots, loadObservations } from "../state/snapshots.repo.ts";
import type { Db, StateStore } from "../state/store.ts";

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

/** What a resolution settled, before it is written. */
interface Settlement {
  id: number;
  conflict: ConflictRow;
  record: GoldenRecord;
  next: GoldenRecord;
  value: Value;
  source: string;
  overruled: OverruledEdit[];
  intents: OutboxWrite[];
}

/** A person's edit in a destination that the decision overrules. */
interface OverruledEdit {
  destination: string;
  property: string;
  held: Value;
}

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
    const { conflict, mapping, record } = await loadOpenConflict(tx, project, id);
    const holders = (await loadObservations(tx, conflict.entity, [conflict.key])).get(conflict.key) ?? [];
    const { value, source } = decide(id, conflict, mapping, decision, holders);
    const overruled = overruledEdits(conflict, mapping, value);
    let next =
      conflict.field === DELETED_FIELD
        ? settleDelete(conflict, mapping, record, value === true, holders)
        : settle(conflict, record, value, source, at, holdersOf(holders, conflict.field));
    if (overruled.length > 0 && next.version === record.version) next = { ...next, version: record.version + 1 };
    const intents = intentsFor(conflict, mapping, record, next, overruled);
    return persist(tx, { id, conflict, record, next, value, source, overruled, intents }, decision, actor, at);
  });
}

/** The conflict, still open, with the mapping and the golden record it is about. */
async function loadOpenConflict(tx: Db, project: Project, id: number) {
  const conflict = await getConflict(tx, id);
  if (!conflict) throw usage(`no conflict #${id}: list them with \`ferry conflicts list\``);
  if (conflict.status !== "open") {
    const reason = typeof conflict.resolution?.reason === "string" ? ` (${conflict.resolution.reason})` : "";
    throw usage(`conflict #${id} is already ${conflict.status}${reason}: there is nothing to resolve. List the open ones with \`ferry conflicts list\``);
  }
  const mapping = project.mappings.get(conflict.entity)?.config;
  const record = await getGolden(tx, conflict.entity, conflict.key);
  if (!mapping || !record || record.status !== "active")
    throw usage(
      `conflict #${id} refers to ${conflict.entity} ${conflict.key}, which Ferry no longer holds`,
    );
  return { conflict, mapping, record };
}

/**
 * The value the decision settles on, and whose it is ("operator" for a value entered). `--use` takes the
 * value a source holds now (a destination's: the edit the conflict recorded).
 */
function decide(
  id: number,
  conflict: ConflictRow,
  mapping: MappingConfig,
  decision: Decision,
  holders: readonly Observation[],
): { value: Value; source: string } {
  if (conflict.field === DELETED_FIELD && "use" in decision) {
    throw usage(`conflict #${id} is about a deleted record: resolve it with --value true (delete) or --value false (keep)`);
  }
  if ("use" in decision) return useSource(id, conflict, decision.use, holders);
  if (conflict.field === DELETED_FIELD) {
    if (!/^(true|false)$/.test(decision.value))
      throw usage("a delete conflict takes --value true (delete) or --value false (keep)");
    return { value: decision.value === "true", source: "operator" };
  }
  const type = mapping.fields[conflict.field]?.type ?? "string";
  try {
    return { value: converterFor(type)(decision.value), source: "operator" };
  } catch (e) {
    throw usage(`--value for ${conflict.field}: ${(e as Error).message}`);
  }
}

/** `--use <source>`: the value that source holds now; refused for a source that holds none. */
function useSource(id: number, conflict: ConflictRow, use: string, holders: readonly Observation[]): { value: Value; source: string } {
  const edit = conflict.candidates.find((c) => c.source === use && destinationOf(c.source) !== undefined);
  if (edit) return { value: edit.value, source: edit.source };
  const held = holdersOf(holders, conflict.field);
  const value = held[use];
  if (value === undefined || value === null) {
    const choices = [
      ...Object.entries(held).filter(([, v]) => v !== null).map(([s]) => s),
      ...conflict.candidates.filter((c) => destinationOf(c.source) !== undefined).map((c) => c.source),
    ];
    const why = value === null ? "holds no value for it" : "does not hold the record now";
    throw usage(
      `source "${use}" ${why} (${conflict.entity} ${conflict.key} ${conflict.field}): choose one of ${choices.join(", ") || "(none)"}, or enter a value with --value`,
    );
  }
  return { value, source: use };
}

/** The source a `_deleted` conflict is about: the one that no longer returns the record. */
const deletingSource = (conflict: ConflictRow) => conflict.candidates[0]?.source ?? conflict.current.source;

/**
 * A delete conflict decided. Deleting lets that source go: the record is decided again from the sources
 * that still hold it, and withdrawn when none does. Keeping leaves the record as it is.
 */
function settleDelete(
  conflict: ConflictRow,
  mapping: MappingConfig,
  record: GoldenRecord,
  remove: boolean,
  holders: readonly Observation[],
): GoldenRecord {
  if (!remove) return record;
  const gone = deletingSource(conflict);
  return merge({
    rules: mergeRules(mapping),
    entity: conflict.entity,
    key: conflict.key,
    current: record,
    holders: holders.filter((o) => o.source !== gone),
    openConflicts: [],
    withdrawAs: "deleted",
  }).record;
}

/** The golden record with the decision applied: the field settled and pinned. */
function settle(
  conflict: ConflictRow,
  record: GoldenRecord,
  value: Value,
  source: string,
  at: string,
  holders: Record<string, Value>,
): GoldenRecord {
  const next = resolveField(record, conflict.field, {
    value,
    source,
    sourceTime: null,
    run: "operator",
    at,
    holders,
  }).record;
  const { conflicted: _, ...field } = next.fields[conflict.field]!;
  return { ...next, fields: { ...next.fields, [conflict.field]: field } };
}

// A destination holding a person's edit that the decision overrules gets the decided value, even when
// the golden value stays as it was; what it holds becomes the baseline, so the push is no new edit.
function overruledEdits(conflict: ConflictRow, mapping: MappingConfig, value: Value): OverruledEdit[] {
  if (conflict.field === DELETED_FIELD) return [];
  return conflict.candidates.flatMap((c) => {
    const destination = destinationOf(c.source);
    const property = destination === undefined ? undefined : mapping.destinations[destination]?.fields[conflict.field];
    return destination !== undefined && c.value !== value && property ? [{ destination, property, held: c.value }] : [];
  });
}

/** What the outbox receives: the plan of the change, plus the overruled property for each destination. */
function intentsFor(
  conflict: ConflictRow,
  mapping: MappingConfig,
  record: GoldenRecord,
  next: GoldenRecord,
  overruled: readonly OverruledEdit[],
): OutboxWrite[] {
  const planned = plan(mapping.destinations, record, next);
  for (const o of overruled) {
    const intent = planned.find((i) => i.destination === o.destination);
    if (intent && intent.op === "upsert" && !intent.changed.includes(o.property)) intent.changed.push(o.property);
    else if (!intent && next.status !== "deleted") {
      const properties = projectOnto(next, mapping.destinations[o.destination]!);
      planned.push({ destination: o.destination, op: "upsert", properties, changed: [o.property] });
    }
  }
  return planned.map((i) => ({ ...i, entity: conflict.entity, key: conflict.key, version: next.version }));
}

/** The one write: snapshots, golden record, destination baselines, outbox, conflict and audit log. */
async function persist(tx: Db, s: Settlement, decision: Decision, actor: string, at: string): Promise<Resolution> {
  const { id, conflict, record, next, value, source } = s;
  if (conflict.field === DELETED_FIELD) {
    // Either way the source's stale snapshot goes, so the next run does not ask again.
    await deleteSnapshots(tx, conflict.entity, deletingSource(conflict), [conflict.key]);
  }
  await writeGolden(tx, null, at, [next]);
  for (const o of s.overruled) {
    await rememberRemoteValues(tx, o.destination, conflict.entity, conflict.key, { [o.property]: o.held }, at);
  }
  const outbox = await enqueue(tx, null, at, s.intents);
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
}

/** The outcome of one conflict of a selection: its resolution, or why it was not resolved. */
export type Settled = { id: number; ok: true; resolution: Resolution } | { id: number; ok: false; code: string; error: string };

/**
 * Settles each conflict of a selection with the same decision, each in its own transaction: one that cannot
 * be settled (already resolved, the source holds no value for it) is reported and the others go on.
 * `{ keep: true }` keeps each conflict's current value (its current source's).
 */
export async function resolveConflicts(
  project: Project,
  store: StateStore,
  ids: readonly number[],
  decision: Decision | { keep: true },
  actor: string,
  now: Date = new Date(),
): Promise<Settled[]> {
  const out: Settled[] = [];
  for (const id of ids) {
    try {
      let d: Decision;
      if ("keep" in decision) {
        const conflict = await getConflict(store.knex, id);
        if (!conflict) throw usage(`no conflict #${id}`);
        d = { use: conflict.current.source };
      } else d = decision;
      out.push({ id, ok: true, resolution: await resolveConflict(project, store, id, d, actor, now) });
    } catch (e) {
      if (!(e instanceof FerryError)) throw e;
      out.push({ id, ok: false, code: e.code, error: e.message });
    }
  }
  return out;
}
