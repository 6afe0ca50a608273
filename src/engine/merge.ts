/**
 * merge: fold one source's changed record into the golden record, field by field, by each field's
 * survivorship rule (DESIGN.md "Merge"). Pure: the caller supplies the other sources' current
 * observations of the same key and the open conflicts, and writes what comes back.
 */
import type { MappingConfig } from "../config/mapping.schema.ts";
import type {
  ConflictCandidate,
  ConflictChange,
  GoldenField,
  GoldenRecord,
  Observation,
  OpenConflict,
  Value,
} from "./types.ts";
import { isEmptyValue } from "./values.ts";

export type Rule =
  | { kind: "owner"; owner: string }
  | { kind: "priority"; order: string[] }
  | { kind: "latest" }
  | { kind: "flag" };

export interface MergeRules {
  key: string;
  rules: Record<string, Rule>;
}

export function mergeRules(mapping: MappingConfig): MergeRules {
  const rules: Record<string, Rule> = {};
  for (const [name, f] of Object.entries(mapping.fields)) {
    const r = f.rule;
    rules[name] =
      r === undefined || r === "latest"
        ? { kind: "latest" }
        : r === "flag"
          ? { kind: "flag" }
          : "owner" in r
            ? { kind: "owner", owner: r.owner }
            : { kind: "priority", order: r.priority };
  }
  return { key: mapping.key, rules };
}

export interface MergeInput {
  rules: MergeRules;
  entity: string;
  key: string;
  current: GoldenRecord | undefined;
  /** The source's new values for every field it maps. */
  incoming: Observation;
  /** The fields whose value this source changed (every field it maps, the first time). */
  changed: readonly string[];
  /** The other sources' latest observations of this key. */
  others: readonly Observation[];
  /** Conflicts open on this record. */
  openConflicts: readonly OpenConflict[];
}

export interface MergeResult {
  record: GoldenRecord;
  /** Golden fields whose value changed. */
  changed: string[];
  /** True when anything about the record changed, provenance included: it must be written. */
  touched: boolean;
  conflicts: ConflictChange[];
}

/** The source name of a value read from a destination (an edit made there): `destination:<name>`. */
const DESTINATION_PREFIX = "destination:";
export const destinationSource = (destination: string) => `${DESTINATION_PREFIX}${destination}`;
export const isDestinationSource = (source: string) => source.startsWith(DESTINATION_PREFIX);
/** The destination a `destination:<name>` source names, or undefined for a source. */
export const destinationOf = (source: string) => (isDestinationSource(source) ? source.slice(DESTINATION_PREFIX.length) : undefined);

const timeOf = (o: { sourceTime: string | null; observedAt?: string; at?: string }) =>
  o.sourceTime ?? o.observedAt ?? o.at ?? "";

function fieldFrom(o: Observation, value: Value, rule: GoldenField["rule"]): GoldenField {
  return { value, source: o.source, run: o.run, at: o.observedAt, sourceTime: o.sourceTime, rule };
}

function candidatesFor(field: string, value: Value, all: readonly Observation[]): ConflictCandidate[] {
  const out: ConflictCandidate[] = [];
  for (const o of all) {
    const v = o.values[field];
    if (v === undefined || isEmptyValue(v) || v === value) continue;
    out.push({ source: o.source, value: v, sourceTime: o.sourceTime, observedAt: o.observedAt });
  }
  return out.sort((a, b) => a.source.localeCompare(b.source));
}

const sameCandidates = (a: readonly ConflictCandidate[], b: readonly ConflictCandidate[]) =>
  a.length === b.length && a.every((c, i) => c.source === b[i]!.source && c.value === b[i]!.value);

/** The golden record as merge builds it: its fields, and what changed on the way. */
interface Draft {
  fields: Record<string, GoldenField>;
  changed: string[];
  conflicts: ConflictChange[];
  /** Whether anything about the record changed, provenance included. */
  touched: boolean;
}

/** Sets a field; one that keeps its value, source and source time is left as it is. */
function setField(draft: Draft, field: string, next: GoldenField) {
  const before = draft.fields[field];
  if (
    before &&
    before.value === next.value &&
    before.source === next.source &&
    before.sourceTime === next.sourceTime
  ) {
    return;
  }
  if (!before || before.value !== next.value) draft.changed.push(field);
  draft.fields[field] = before?.conflicted ? { ...next, conflicted: true } : next;
  draft.touched = true;
}

/** The value of the highest-ranked source that has one for the field, if any does. */
function byPriority(
  order: readonly string[],
  all: readonly Observation[],
  field: string,
): { o: Observation; v: Value } | undefined {
  for (const name of order) {
    const o = all.find((x) => x.source === name);
    const v = o?.values[field];
    if (o && v !== undefined && !isEmptyValue(v)) return { o, v };
  }
  return undefined;
}

/** A `flag` field: the first value stands until another source disagrees, which opens a conflict. */
function foldFlag(draft: Draft, field: string, value: Value, input: MergeInput, all: readonly Observation[]) {
  const cur = draft.fields[field];
  const { incoming } = input;
  if (cur && cur.value === value) {
    // Agreement confirms the value; it does not hand the value over: the source that set it keeps it,
    // so a later change by the one that merely agreed is still a disagreement.
  } else if (!cur || isEmptyValue(cur.value) || cur.source === incoming.source) {
    setField(draft, field, fieldFrom(incoming, value, "flag"));
  } else if (!isEmptyValue(value) && !input.openConflicts.some((c) => c.field === field)) {
    const candidates = candidatesFor(field, cur.value, all);
    draft.conflicts.push({
      type: "open",
      field,
      current: { value: cur.value, source: cur.source },
      candidates,
    });
    draft.fields[field] = { ...cur, conflicted: true };
    draft.touched = true;
  }
}

/** One field the incoming source changed, folded in by the field's rule. */
function foldField(draft: Draft, field: string, input: MergeInput, all: readonly Observation[]) {
  const { incoming, rules } = input;
  const value = incoming.values[field];
  if (value === undefined) return;
  const cur = draft.fields[field];
  if (field === rules.key) {
    // The key is the same in every source; it keeps the provenance of the first one that named it.
    if (!cur) setField(draft, field, fieldFrom(incoming, value, "key"));
    return;
  }
  const rule = rules.rules[field] ?? { kind: "latest" };
  switch (rule.kind) {
    case "owner":
      if (incoming.source === rule.owner) setField(draft, field, fieldFrom(incoming, value, "owner"));
      break;
    case "priority": {
      // Recomputed from every source's value, so a higher-ranked source clearing its value hands the
      // field to the next one.
      const best = byPriority(rule.order, all, field);
      setField(draft, field, best ? fieldFrom(best.o, best.v, "priority") : fieldFrom(incoming, null, "priority"));
      break;
    }
    case "latest":
      if (!cur || cur.source === incoming.source || timeOf(incoming) > timeOf(cur)) {
        setField(draft, field, fieldFrom(incoming, value, "latest"));
      }
      break;
    case "flag":
      foldFlag(draft, field, value, input, all);
      break;
  }
}

/**
 * An open conflict follows the sources: it closes by itself once they agree with the field's value, and
 * its candidates are kept up to date otherwise.
 */
function followConflicts(draft: Draft, input: MergeInput, all: readonly Observation[]) {
  for (const c of input.openConflicts) {
    const f = draft.fields[c.field];
    if (!f) continue;
    // A destination's value (an edit made there) is no source's observation: it stays a candidate until
    // the field's value comes to match it or an operator decides.
    // Only a `flag` field is disputed between sources; on any other the sources' values are no candidates.
    const kept = c.candidates.filter((x) => isDestinationSource(x.source) && x.value !== f.value);
    const disputed = input.rules.rules[c.field]?.kind === "flag" ? candidatesFor(c.field, f.value, all) : [];
    const candidates = [...disputed, ...kept].sort((a, b) => a.source.localeCompare(b.source));
    if (candidates.length === 0) {
      draft.conflicts.push({ type: "close", id: c.id, field: c.field, reason: "the sources now agree" });
      const { conflicted: _, ...rest } = f;
      draft.fields[c.field] = rest;
      draft.touched = true;
    } else if (
      !sameCandidates(candidates, c.candidates) ||
      (c.current !== undefined && (c.current.value !== f.value || c.current.source !== f.source))
    ) {
      draft.conflicts.push({
        type: "update",
        id: c.id,
        field: c.field,
        current: { value: f.value, source: f.source },
        candidates,
      });
    }
  }
}

export function merge(input: MergeInput): MergeResult {
  const { incoming, current } = input;
  const all = [incoming, ...input.others.filter((o) => o.source !== incoming.source)];
  const revived = current !== undefined && current.status !== "active";
  const draft: Draft = {
    fields: { ...current?.fields },
    changed: [],
    conflicts: [],
    touched: current === undefined || revived,
  };
  for (const field of input.changed) foldField(draft, field, input, all);
  followConflicts(draft, input, all);
  const version = (current?.version ?? 0) + (draft.changed.length > 0 || revived ? 1 : 0);
  return {
    record: { entity: input.entity, key: input.key, version, status: "active", fields: draft.fields },
    changed: draft.changed,
    touched: draft.touched,
    conflicts: draft.conflicts,
  };
}

/** An operator's decision on a conflicted field: the field takes `value` from `source` (or `operator`). */
export function resolveField(
  record: GoldenRecord,
  field: string,
  decision: { value: Value; source: string; sourceTime: string | null; run: string; at: string },
): { record: GoldenRecord; changed: boolean } {
  const before = record.fields[field];
  const changed = !before || before.value !== decision.value;
  const next: GoldenField = {
    value: decision.value,
    source: decision.source,
    run: decision.run,
    at: decision.at,
    sourceTime: decision.sourceTime,
    rule: "operator",
  };
  return {
    record: {
      ...record,
      version: record.version + (changed ? 1 : 0),
      fields: { ...record.fields, [field]: next },
    },
    changed,
  };
}

/** A record whose last source withdrew it (snapshot delete with the propagate or archive policy). */
export function withdraw(record: GoldenRecord, status: "deleted" | "archived"): GoldenRecord {
  return { ...record, status, version: record.version + 1 };
}
