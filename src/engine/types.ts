/**
 * The plain data that flows through the pure core (map, diff, merge, plan). No I/O, no clocks: times and
 * run ids come in as arguments.
 */

/** A canonical value: decimals are exact strings, dates `YYYY-MM-DD`, datetimes ISO 8601 UTC. */
export type Value = string | number | boolean | null;

/** One source's canonical values of one record, by field name. */
export type Values = Record<string, Value>;

/** What one source said about one record, and when. */
export interface Observation {
  source: string;
  values: Values;
  /** The source's own timestamp of the record (its cursor column or configured time column), if it has one. */
  sourceTime: string | null;
  /** When Ferry read it. */
  observedAt: string;
  run: string;
}

export type RuleName = "owner" | "priority" | "latest" | "flag" | "key" | "operator";

/** One field of a golden record with its provenance. */
export interface GoldenField {
  value: Value;
  /** The source whose value this is; `operator` for a value entered when resolving a conflict. */
  source: string;
  run: string;
  /** When Ferry observed the value. */
  at: string;
  sourceTime: string | null;
  rule: RuleName;
  /** True while a conflict on this field is open. */
  conflicted?: boolean;
  /**
   * An operator's decision (rule `operator`): what each source holding the record said of the field when
   * it was taken. The decision stands while they say exactly that.
   */
  pin?: Record<string, Value>;
}

export type RecordStatus = "active" | "deleted" | "archived";

export interface GoldenRecord {
  entity: string;
  key: string;
  /** Increases with every applied change; part of each outbox row's idempotency key. */
  version: number;
  status: RecordStatus;
  fields: Record<string, GoldenField>;
}

export interface ConflictCandidate {
  source: string;
  value: Value;
  sourceTime: string | null;
  observedAt: string;
}

/** An open conflict as merge sees it. */
export interface OpenConflict {
  id: number;
  field: string;
  /** The field's value as the conflict last recorded it. */
  current?: { value: Value; source: string };
  candidates: ConflictCandidate[];
}

export type ConflictChange =
  | {
    type: "open";
    field: string;
    current: { value: Value; source: string };
    candidates: ConflictCandidate[];
  }
  | {
    type: "update";
    id: number;
    field: string;
    current: { value: Value; source: string };
    candidates: ConflictCandidate[];
  }
  | { type: "close"; id: number; field: string; reason: string };

/** A change to send to one destination, before it becomes an outbox row. */
export interface OutboxIntent {
  destination: string;
  op: "upsert" | "delete";
  /** The record's full projection onto the destination's properties (newest version). */
  properties: Values;
  /** Destination properties that changed since the previous version (all of them for a new record). */
  changed: string[];
}
