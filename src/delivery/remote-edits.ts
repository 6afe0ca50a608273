/**
 * Edits made in a destination (DESIGN.md, three-way). With `remote_edits: conflict` or `destination_wins`,
 * delivery reads a record's changed fields back before updating it and compares each with what Ferry last
 * pushed there. A field that differs both from that and from what Ferry is about to send was changed by a
 * person: the update leaves it alone. Under `conflict` a conflict opens on the golden field with the
 * destination's value as a candidate (source `destination:<name>`), and the field stays out of updates to
 * that destination until an operator settles it; under `destination_wins` the audit log records the
 * decision.
 *
 * The check writes nothing itself. What it decided (the conflict, the audit entry, the values the
 * destination holds) is committed with the record's delivery, and only if the record ends delivered: a send
 * held back (the destination down) or a crash decides again from the same baseline next time, so an edit
 * is never lost between the read and the write, and is acted on once.
 */
import type { Project } from "../config/load.ts";
import { destinationSource } from "../engine/merge.ts";
import type { ConflictChange, GoldenRecord, OpenConflict, Value, Values } from "../engine/types.ts";
import { converterFor } from "../engine/values.ts";
import type { DeliveryItem, Destination, ItemResult } from "../destinations/destination.ts";
import { type AuditEntry, appendAudit } from "../state/audit.repo.ts";
import { applyConflictChanges, loadOpenConflicts } from "../state/conflicts.repo.ts";
import { loadGolden, markConflicted } from "../state/golden.repo.ts";
import { loadPushed } from "../state/destination-records.repo.ts";
import type { Db, StateStore } from "../state/store.ts";
import type { RemoteEdits } from "../destinations/shared.config.ts";
import type { FieldType } from "../config/mapping.schema.ts";

/**
 * A value read from a destination, in Ferry's canonical form for the field's type: APIs give values back
 * in their own spelling (HubSpot as text, "" for empty, emails as they were typed), and the field's own
 * converter (the one sources go through) brings them to what Ferry holds. A value it refuses is kept as read.
 */
export function canonicalRemote(value: Value, type: FieldType | undefined): Value {
  if (type === undefined) return value === "" ? null : value;
  try {
    return converterFor(type)(value);
  } catch {
    return value;
  }
}

/** Two canonical values, an empty text and no value being the same. */
export const sameValue = (a: Value | undefined, b: Value | undefined): boolean => (a === "" ? null : (a ?? null)) === (b === "" ? null : (b ?? null));

const FINER_THAN_MS = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3})\d+Z$/;

/**
 * Whether `remote` is the canonical date-time `pushed` cut to milliseconds: what a destination that keeps
 * milliseconds only (HubSpot, Salesforce) gives back of a value with microseconds. Not a person's edit.
 */
function heldAsMilliseconds(remote: Value | undefined, pushed: Value | undefined): boolean {
  const m = typeof pushed === "string" && typeof remote === "string" ? FINER_THAN_MS.exec(pushed) : null;
  return m !== null && remote === `${m[1]}Z`;
}

const sameAsPushed = (remote: Value | undefined, pushed: Value | undefined) =>
  sameValue(remote, pushed) || heldAsMilliseconds(remote, pushed);

/**
 * The properties of an update that a person changed in the destination: the destination's value (in
 * canonical form) differs from what Ferry last pushed (`baseline`) and from what it is about to send. A
 * property Ferry never pushed, or the destination did not return, is not an edit; nor is a date-time the
 * destination holds to the millisecond where Ferry sent finer digits.
 */
export function editedProperties(item: Pick<DeliveryItem, "changed" | "properties">, baseline: Values, remote: Values): string[] {
  return item.changed.filter(
    (p) => p in remote && p in baseline && !sameAsPushed(remote[p], baseline[p]) && !sameAsPushed(remote[p], item.properties[p]),
  );
}

/** What the check decided for one record, committed with its delivery. */
export interface RemoteEditEffects {
  entity: string;
  key: string;
  conflicts: ConflictChange[];
  /** Golden fields whose open-conflict mark is set (true) or cleared (false). */
  marks: { field: string; conflicted: boolean }[];
  audit: AuditEntry[];
  /** What the destination holds after this delivery, as far as Ferry knows: the baseline from then on. */
  pushed: Values;
}

export interface GuardedItems {
  /** Items to send, with the fields left alone taken out of `changed`. */
  send: DeliveryItem[];
  /** Results of items with nothing left to send. */
  kept: ItemResult[];
  effects: Map<number, RemoteEditEffects>;
  /** Fields left alone. */
  withheld: number;
}

export interface RemoteEditsContext {
  project: Project;
  store: StateStore;
  destination: Destination;
  mode: RemoteEdits;
  now: () => Date;
}

/** Reads the records about to be updated back from the destination and takes out of each update what a person changed there. */
export async function guardRemoteEdits(
  context: RemoteEditsContext,
  items: readonly DeliveryItem[],
  signal: AbortSignal,
): Promise<GuardedItems> {
  const { project, store, destination: d, mode } = context;
  const out: GuardedItems = { send: [...items], kept: [], effects: new Map(), withheld: 0 };
  const updates = items.filter((i) => i.op === "upsert" && i.remoteId !== null && i.changed.length > 0);
  if (mode === "overwrite" || !d.readRemote || updates.length === 0) return out;

  const remote = await d.readRemote(updates, signal);
  const source = destinationSource(d.name);
  const at = context.now().toISOString();
  const guarded = new Map<number, DeliveryItem>();

  for (const [entity, group] of Map.groupBy(updates, (i) => i.entity)) {
    const mapping = project.mappings.get(entity)!.config;
    const fieldOf = new Map(Object.entries(mapping.destinations[d.name]!.fields).map(([field, property]) => [property, field]));
    const keys = group.map((i) => i.key);
    const baselines = await loadPushed(store.knex, d.name, entity, keys);
    const conflicts = await loadOpenConflicts(store.knex, entity, keys);
    // The golden values are only needed for a conflict's current value.
    const golden = mode === "conflict" || conflicts.size > 0 ? await loadGolden(store.knex, entity, keys) : new Map<string, GoldenRecord>();

    for (const item of group) {
      const read = remote.get(item.outboxId);
      if (!read) continue; // gone from the destination: the connector recreates it
      const values: Values = {};
      for (const p of item.changed) {
        if (p in read) values[p] = canonicalRemote(read[p]!, fieldOf.has(p) ? mapping.fields[fieldOf.get(p)!]?.type : undefined);
      }
      const baseline = baselines.get(item.key) ?? {};
      const open = conflicts.get(item.key) ?? [];
      const decided = decide(item, values, baseline, open, golden.get(item.key), fieldOf, { source, mode, at, destination: d.name });
      const left = Object.keys(decided.leave);
      out.withheld += left.length;
      // What the destination holds afterwards: what was sent, what a person left there, and for the rest what
      // Ferry knew it held before (a person's value kept earlier stays the baseline until Ferry sends that field).
      const unsent = Object.keys(item.properties).filter((p) => !item.changed.includes(p));
      const pushed: Values = { ...item.properties, ...pick(baseline, unsent), ...decided.leave };
      const { conflicts: changes, marks, audit } = decided;
      out.effects.set(item.outboxId, { entity, key: item.key, conflicts: changes, marks, audit, pushed });
      const sent = item.changed.filter((p) => !(p in decided.leave));
      if (left.length > 0) guarded.set(item.outboxId, { ...item, properties: pushed, changed: sent });
    }
  }

  out.send = [];
  for (const item of items) {
    const g = guarded.get(item.outboxId);
    if (!g) out.send.push(item);
    else if (g.changed.length > 0) out.send.push(g);
    else out.kept.push({ outboxId: item.outboxId, ok: true, remoteId: item.remoteId, action: "kept" });
  }
  return out;
}

function pick(values: Values, names: readonly string[]): Values {
  const out: Values = {};
  for (const n of names) if (n in values) out[n] = values[n]!;
  return out;
}

/** The decisions for one record: fields to leave as the destination holds them, conflicts, audit entries. */
function decide(
  item: DeliveryItem,
  remote: Values,
  baseline: Values,
  open: readonly OpenConflict[],
  golden: GoldenRecord | undefined,
  fieldOf: ReadonlyMap<string, string>,
  at: { source: string; mode: RemoteEdits; at: string; destination: string },
) {
  const leave: Values = {};
  const conflicts: ConflictChange[] = [];
  const marks: { field: string; conflicted: boolean }[] = [];
  const audit: AuditEntry[] = [];
  const edited = new Set(editedProperties(item, baseline, remote));
  const currentOf = (field: string, property: string) => {
    const g = golden?.fields[field];
    return { value: g?.value ?? item.properties[property] ?? null, source: g?.source ?? "ferry" };
  };

  for (const property of item.changed) {
    const field = fieldOf.get(property);
    const value = remote[property];
    if (field === undefined || value === undefined) continue;
    const conflict = open.find((c) => c.field === field);
    const ours = conflict?.candidates.find((c) => c.source === at.source);
    if (conflict && ours) {
      // The field waits for an operator: leave it alone, and keep the conflict's view of the destination current.
      if (sameValue(value, item.properties[property])) {
        const rest = conflict.candidates.filter((c) => c !== ours);
        if (rest.length === 0) {
          conflicts.push({ type: "close", id: conflict.id, field, reason: `${at.destination} now holds the golden value` });
          marks.push({ field, conflicted: false });
        } else conflicts.push({ type: "update", id: conflict.id, field, current: currentOf(field, property), candidates: rest });
        continue;
      }
      leave[property] = value;
      if (ours.value !== value) {
        const candidates = conflict.candidates.map((c) => (c === ours ? { ...c, value, observedAt: at.at } : c));
        conflicts.push({ type: "update", id: conflict.id, field, current: currentOf(field, property), candidates });
      }
      continue;
    }
    if (!edited.has(property)) continue;
    leave[property] = value;
    if (at.mode === "conflict") {
      const candidate = { source: at.source, value, sourceTime: null, observedAt: at.at };
      if (conflict) {
        // One conflict per field: the edit joins the one already open (the sources' own disagreement).
        const candidates = [...conflict.candidates, candidate].sort((a, b) => a.source.localeCompare(b.source));
        conflicts.push({ type: "update", id: conflict.id, field, current: currentOf(field, property), candidates });
      } else conflicts.push({ type: "open", field, current: currentOf(field, property), candidates: [candidate] });
      marks.push({ field, conflicted: true });
    } else {
      audit.push({
        at: at.at,
        actor: "ferry",
        action: "remote_edit.kept",
        entity: item.entity,
        key: item.key,
        field,
        before: item.properties[property] ?? null,
        after: value,
        details: { destination: at.destination, property, rule: "destination_wins" },
      });
    }
  }
  return { leave, conflicts, marks, audit };
}

/** Commits what the check decided for a record that was delivered (or kept), in the delivery's transaction. */
export async function applyRemoteEditEffects(db: Db, e: RemoteEditEffects, at: string): Promise<void> {
  if (e.conflicts.length > 0) await applyConflictChanges(db, e.entity, e.key, null, at, e.conflicts);
  for (const m of e.marks) await markConflicted(db, e.entity, e.key, m.field, m.conflicted);
  for (const entry of e.audit) await appendAudit(db, entry);
}
