/**
 * merge: a key's golden record, decided from what the sources that hold the key say now, each field's
 * rule and the operators' pins (README "How a field's value is chosen"). Pure, and a function of those
 * inputs: the runner recomputes a key whenever one of them changes (a source writes or lets go of it, an
 * operator decides), so no value outlives the source that said it, and the order sources were read in
 * makes no difference. The record before is read only for what the semantics keep of it: a disputed
 * `flag` field keeps its value while a holder still says it, a pin stands while the holders say what they
 * said, and provenance and version carry on.
 */
import type { MappingConfig } from "../config/mapping.schema.ts";
import type {
  ConflictCandidate,
  ConflictChange,
  GoldenField,
  GoldenRecord,
  Observation,
  OpenConflict,
  RecordStatus,
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
  /** Every source that holds the key now, with what it says (a writer's new values included). */
  holders: readonly Observation[];
  /** Conflicts open on this record. */
  openConflicts: readonly OpenConflict[];
  /** What the record becomes when no source holds it any more (the deleting job's policy). */
  withdrawAs?: "deleted" | "archived";
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

/** What a source says of a field: its value, null for an empty one, undefined when it maps no such field. */
function said(o: Observation, field: string): Value | undefined {
  const v = o.values[field];
  return v === undefined ? undefined : isEmptyValue(v) ? null : v;
}

/** The holders' values of a field, by source: what a pin records and is checked against. */
export function holdersOf(holders: readonly Observation[], field: string): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const o of [...holders].sort(bySource)) {
    const v = said(o, field);
    if (v !== undefined) out[o.source] = v;
  }
  return out;
}

const bySource = (a: { source: string }, b: { source: string }) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0);
/**
 * The instant an observation stands for, as text that sorts in time order: its source time, else when it
 * was read. Date-times keep the source's fraction (`.123Z`, `.123456Z`), so fractions are padded to nine
 * digits before they are compared.
 */
const timeOf = (o: Observation) => {
  const t = o.sourceTime ?? o.observedAt;
  const m = /^(.*?)(?:\.(\d{1,9}))?Z$/.exec(t);
  return m ? `${m[1]}.${(m[2] ?? "").padEnd(9, "0")}Z` : t;
};

/** A field's value as its rule decides it: the value and the observation it comes from, or empty. */
interface Choice {
  value: Value;
  from?: Observation;
  /** `flag`: the holders disagree; their values, other than the one the field keeps. */
  disputed?: ConflictCandidate[];
}

const EMPTY: Choice = { value: null };

function withValue(holders: readonly Observation[], field: string) {
  return holders.filter((o) => {
    const v = said(o, field);
    return v !== undefined && v !== null;
  });
}

function byOwner(owner: string, holders: readonly Observation[], field: string): Choice {
  const o = holders.find((h) => h.source === owner);
  const v = o && said(o, field);
  return o && v !== undefined && v !== null ? { value: v, from: o } : EMPTY;
}

function byPriority(order: readonly string[], holders: readonly Observation[], field: string): Choice {
  for (const name of order) {
    const choice = byOwner(name, holders, field);
    if (choice.from) return choice;
  }
  return EMPTY;
}

/** The newest value by source time (else the time it was read); equal times go to the first source by name. */
function byLatest(holders: readonly Observation[], field: string): Choice {
  let best: Observation | undefined;
  for (const o of withValue(holders, field)) {
    if (!best || timeOf(o) > timeOf(best) || (timeOf(o) === timeOf(best) && o.source < best.source)) best = o;
  }
  return best ? { value: said(best, field)!, from: best } : EMPTY;
}

/**
 * `flag`: the value the holders agree on. While they disagree the field keeps its value if a holder still
 * says it (from that holder, the one that said it before if it still does), else it is empty; every other
 * holder's value is a candidate of the dispute, so that it lists each holder whatever the reading order.
 */
function byFlag(holders: readonly Observation[], field: string, before: GoldenField | undefined): Choice {
  const valued = withValue(holders, field).sort(bySource);
  const distinct = new Set(valued.map((o) => said(o, field)));
  const keep = before && !isEmptyValue(before.value) ? before.value : undefined;
  const sayer = (value: Value) =>
    valued.find((o) => o.source === before?.source && said(o, field) === value) ?? valued.find((o) => said(o, field) === value);
  if (distinct.size <= 1) {
    const first = valued[0];
    return first ? { value: said(first, field)!, from: sayer(said(first, field)!) } : EMPTY;
  }
  const from = keep !== undefined ? sayer(keep) : undefined;
  const value = from ? keep! : null;
  const disputed = valued
    .filter((o) => o !== from)
    .map((o) => ({ source: o.source, value: said(o, field)!, sourceTime: o.sourceTime, observedAt: o.observedAt }));
  return { value, from, disputed };
}

function choose(rule: Rule, holders: readonly Observation[], field: string, before: GoldenField | undefined): Choice {
  switch (rule.kind) {
    case "owner":
      return byOwner(rule.owner, holders, field);
    case "priority":
      return byPriority(rule.order, holders, field);
    case "latest":
      return byLatest(holders, field);
    case "flag":
      return byFlag(holders, field, before);
  }
}

/** Whether an operator's pin on the field still stands: every holder says exactly what it said then. */
function pinStands(before: GoldenField | undefined, holders: readonly Observation[], field: string): boolean {
  if (!before?.pin) return false;
  const now = holdersOf(holders, field);
  const then = before.pin;
  const names = Object.keys(now);
  return names.length === Object.keys(then).length && names.every((s) => s in then && then[s] === now[s]);
}

/** The field as the choice makes it, keeping its provenance when value and source are unchanged. */
function fieldOf(choice: Choice, rule: GoldenField["rule"], before: GoldenField | undefined): GoldenField | undefined {
  const o = choice.from;
  if (!o) return undefined;
  if (before && before.value === choice.value && before.source === o.source && before.sourceTime === o.sourceTime && !before.pin) {
    return { ...before, rule };
  }
  return { value: choice.value, source: o.source, run: o.run, at: o.observedAt, sourceTime: o.sourceTime, rule };
}

/** The record's fields and the disputes the rules find, from the holders (and the record before). */
function decideFields(input: MergeInput, before: Record<string, GoldenField>) {
  const fields: Record<string, GoldenField> = {};
  const disputes = new Map<string, ConflictCandidate[]>();
  const { key, rules } = input.rules;
  const keyField = before[key] ?? fieldOf({ value: input.key, from: [...input.holders].sort(bySource)[0] }, "key", undefined);
  if (keyField) fields[key] = keyField;
  // Every field a rule names, and any other a source gives (decided as `latest`).
  const names = new Set([...Object.keys(rules), ...input.holders.flatMap((o) => Object.keys(o.values))]);
  for (const field of names) {
    if (field === key) continue;
    const rule = rules[field] ?? { kind: "latest" };
    const prior = before[field];
    if (pinStands(prior, input.holders, field)) {
      fields[field] = prior!;
      continue;
    }
    const choice = choose(rule, input.holders, field, prior);
    const next = fieldOf(choice, rule.kind, prior);
    if (next) fields[field] = next;
    if (choice.disputed) disputes.set(field, choice.disputed);
  }
  return { fields, disputes };
}

const sameCandidates = (a: readonly ConflictCandidate[], b: readonly ConflictCandidate[]) =>
  a.length === b.length && a.every((c, i) => c.source === b[i]!.source && c.value === b[i]!.value);

/**
 * The conflicts as the decision says: a dispute with no conflict open opens one; an open conflict follows
 * the holders (and keeps a destination's value, an edit made there, until the field comes to match it or
 * an operator decides), and closes once nothing is disputed any more.
 */
function followConflicts(
  input: MergeInput,
  fields: Record<string, GoldenField>,
  disputes: ReadonlyMap<string, ConflictCandidate[]>,
): ConflictChange[] {
  const changes: ConflictChange[] = [];
  const current = (field: string) => ({ value: fields[field]?.value ?? null, source: fields[field]?.source ?? "" });
  for (const c of input.openConflicts) {
    if (!(c.field in input.rules.rules)) continue;
    const value = fields[c.field]?.value ?? null;
    const kept = c.candidates.filter((x) => isDestinationSource(x.source) && x.value !== value);
    const candidates = [...(disputes.get(c.field) ?? []), ...kept].sort(bySource);
    if (candidates.length === 0) {
      changes.push({ type: "close", id: c.id, field: c.field, reason: "the sources now agree" });
    } else if (
      !sameCandidates(candidates, c.candidates) ||
      (c.current !== undefined && (c.current.value !== value || c.current.source !== current(c.field).source))
    ) {
      changes.push({ type: "update", id: c.id, field: c.field, current: current(c.field), candidates });
    }
  }
  for (const [field, candidates] of disputes) {
    if (input.openConflicts.some((c) => c.field === field)) continue;
    changes.push({ type: "open", field, current: current(field), candidates: [...candidates].sort(bySource) });
  }
  return changes;
}

/** Marks the fields an open conflict is about; a field no longer disputed loses its mark. */
function markConflicts(fields: Record<string, GoldenField>, input: MergeInput, changes: readonly ConflictChange[]) {
  const open = new Set(input.openConflicts.map((c) => c.field));
  for (const c of changes) {
    if (c.type === "open") open.add(c.field);
    if (c.type === "close") open.delete(c.field);
  }
  for (const [name, f] of Object.entries(fields)) {
    const { conflicted: _, ...rest } = f;
    fields[name] = open.has(name) ? { ...rest, conflicted: true } : rest;
  }
}

/** A record no source holds any more: withdrawn, every conflict on it closed. */
function withdrawn(input: MergeInput, current: GoldenRecord): MergeResult {
  const status: RecordStatus = input.withdrawAs ?? "deleted";
  const conflicts: ConflictChange[] = input.openConflicts.map((c) => ({ type: "close", id: c.id, field: c.field, reason: "record deleted" }));
  if (current.status === status) return { record: current, changed: [], touched: false, conflicts };
  const fields = Object.fromEntries(Object.entries(current.fields).map(([n, f]) => [n, (({ conflicted: _, ...rest }) => rest)(f)]));
  return { record: withdraw({ ...current, fields }, status), changed: [], touched: true, conflicts };
}

export function merge(input: MergeInput): MergeResult {
  const { current } = input;
  if (input.holders.length === 0) {
    if (!current || current.status !== "active") return { record: current ?? emptyRecord(input), changed: [], touched: false, conflicts: [] };
    return withdrawn(input, current);
  }
  // A record created again starts from what the sources say now: nothing of its earlier life counts.
  const before = current?.status === "active" ? current.fields : {};
  const { fields, disputes } = decideFields(input, before);
  const conflicts = followConflicts(input, fields, disputes);
  markConflicts(fields, input, conflicts);
  const previous = current?.fields ?? {};
  const names = new Set([...Object.keys(previous), ...Object.keys(fields)]);
  const changed = [...names].filter((n) => (previous[n]?.value ?? null) !== (fields[n]?.value ?? null));
  const revived = current !== undefined && current.status !== "active";
  const touched = current === undefined || revived || JSON.stringify(current.fields) !== JSON.stringify(fields);
  const version = (current?.version ?? 0) + (changed.length > 0 || revived || current === undefined ? 1 : 0);
  return { record: { entity: input.entity, key: input.key, version, status: "active", fields }, changed, touched, conflicts };
}

function emptyRecord(input: MergeInput): GoldenRecord {
  return { entity: input.entity, key: input.key, version: 0, status: "deleted", fields: {} };
}

/**
 * An operator's decision on a field: the field takes `value` from `source` (`operator` for a value entered),
 * pinned to what the holders say now (`holders`, see `holdersOf`): it stands while they say just that.
 */
export function resolveField(
  record: GoldenRecord,
  field: string,
  decision: { value: Value; source: string; sourceTime: string | null; run: string; at: string; holders: Record<string, Value> },
): { record: GoldenRecord; changed: boolean } {
  const before = record.fields[field];
  const changed = (before?.value ?? null) !== decision.value;
  const next: GoldenField = {
    value: decision.value,
    source: decision.source,
    run: decision.run,
    at: decision.at,
    sourceTime: decision.sourceTime,
    rule: "operator",
    pin: decision.holders,
  };
  return {
    record: { ...record, version: record.version + (changed ? 1 : 0), fields: { ...record.fields, [field]: next } },
    changed,
  };
}

/** A record withdrawn: no source holds it any more. */
export function withdraw(record: GoldenRecord, status: "deleted" | "archived"): GoldenRecord {
  return { ...record, status, version: record.version + 1 };
}
