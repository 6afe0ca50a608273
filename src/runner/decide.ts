/**
 * merge and plan for a batch's changed records, each decided again from every source that holds it now:
 * what the batch writes (snapshot rows, golden records, conflict changes, outbox rows) and what a dry run
 * reports of it. No I/O.
 */
import type { RowChange } from "../engine/diff.ts";
import { merge } from "../engine/merge.ts";
import { plan } from "../engine/plan.ts";
import type { ConflictChange, GoldenRecord, Observation, OpenConflict } from "../engine/types.ts";
import type { OutboxWrite } from "../state/outbox.repo.ts";
import type { SnapshotWrite } from "../state/snapshots.repo.ts";
import type { BatchContext, PlannedEvent } from "./batch-context.ts";
import type { Candidate } from "./classify.ts";

/** What merge needs besides the changed rows, loaded for their keys. */
export interface MergeState {
  golden: ReadonlyMap<string, GoldenRecord>;
  /** Other sources' observations (none loaded when no other source maps the entity). */
  others: ReadonlyMap<string, readonly Observation[]>;
  /** Open conflicts, loaded for the records whose golden fields carry a conflict's mark. */
  open: ReadonlyMap<string, readonly OpenConflict[]>;
}

/** The conflicts one record opens, updates or closes. */
export interface KeyConflicts {
  key: string;
  changes: ConflictChange[];
}

export interface BatchChanges {
  snapshots: SnapshotWrite[];
  /** Golden records that changed in any way, provenance included. */
  golden: GoldenRecord[];
  conflicts: KeyConflicts[];
  outbox: OutboxWrite[];
  /** For a dry run, record by record: the conflicts it opens, then its create or update. */
  planned: PlannedEvent[];
}

export type DecideContext = Pick<BatchContext, "compiled" | "source" | "runId" | "observedAt" | "rules" | "destinations">;

export function decideChanges(
  ctx: DecideContext,
  changed: readonly RowChange<Candidate>[],
  state: MergeState,
): BatchChanges {
  const entity = ctx.compiled.entity;
  const out: BatchChanges = { snapshots: [], golden: [], conflicts: [], outbox: [], planned: [] };
  for (const { row: c } of changed) {
    out.snapshots.push({ key: c.key, hash: c.hash, values: c.values, sourceTime: c.sourceTime });
    const before = state.golden.get(c.key);
    const written: Observation = {
      source: ctx.source,
      values: c.values,
      sourceTime: c.sourceTime,
      observedAt: ctx.observedAt,
      run: String(ctx.runId),
    };
    const others = state.others.get(c.key) ?? [];
    const result = merge({
      rules: ctx.rules,
      entity,
      key: c.key,
      current: before,
      holders: [written, ...others],
      openConflicts: state.open.get(c.key) ?? [],
    });
    if (result.touched) out.golden.push(result.record);
    if (result.conflicts.length > 0) {
      out.conflicts.push({ key: c.key, changes: result.conflicts });
      for (const x of result.conflicts)
        if (x.type === "open") out.planned.push({ kind: "conflict", key: c.key, field: x.field });
    }
    if (result.changed.length > 0) {
      const kind = before && before.status === "active" ? "update" : "create";
      out.planned.push({ kind, key: c.key, fields: result.changed });
    }
    for (const intent of plan(ctx.destinations, before, result.record)) {
      out.outbox.push({ ...intent, entity, key: c.key, version: result.record.version });
    }
  }
  return out;
}
