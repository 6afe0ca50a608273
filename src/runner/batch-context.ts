/** What a batch is processed with: the run's compiled mapping, rules and scope, and where a dry run reports. */
import type { DestinationMapping } from "../config/mapping.schema.ts";
import type { CompiledMapping } from "../engine/map.ts";
import type { MergeRules } from "../engine/merge.ts";
import type { SeenKeys } from "../engine/seen-keys.ts";
import type { RecordFilter } from "./filter.ts";

export interface BatchContext {
  job: string;
  source: string;
  runId: number;
  observedAt: string;
  compiled: CompiledMapping;
  /** The mapping's signature with the job's filter: what, besides a row, decides what becomes of it. */
  signature: string;
  rules: MergeRules;
  destinations: Record<string, DestinationMapping>;
  filter: RecordFilter;
  /** Extracts the record's source time (for the `latest` rule) from a raw row. */
  sourceTime: (row: Record<string, unknown>) => string | null;
  /** Snapshot mode: keys read so far in this run. Cursor mode re-reads a key legitimately, so it has none. */
  seen: SeenKeys | null;
  /** Whether any other source maps this entity (else the other-observations lookup is skipped). */
  multiSource: boolean;
  /** Collects what a dry run would do. */
  onPlanned?: (event: PlannedEvent) => void;
}

export type PlannedEvent =
  | { kind: "create" | "update"; key: string; fields: string[] }
  | { kind: "conflict"; key: string; field: string }
  | { kind: "reject"; line: number; key: string | null; reason: string }
  | { kind: "delete"; key: string };
