/**
 * Snapshot deletes: a key this source held last time and did not return now. Counted first, against the
 * mass-delete guard, and applied only if the run is within its limit (or told to allow more). Keys are
 * taken a thousand at a time: their state is loaded, what becomes of them decided (`flagDeletes`,
 * `withdrawDeletes`, pure), and the decision written (`persistDeletes`).
 */

import type { JobConfig } from "../config/job.schema.ts";
import type { DestinationMapping } from "../config/mapping.schema.ts";
import { merge, type MergeRules } from "../engine/merge.ts";
import { plan } from "../engine/plan.ts";
import type { SeenKeys } from "../engine/seen-keys.ts";
import type { GoldenRecord, Observation, OpenConflict } from "../engine/types.ts";
import { FatalError } from "../errors.ts";
import { loadOpenConflicts } from "../state/conflicts.repo.ts";
import { loadGolden, writeGolden } from "../state/golden.repo.ts";
import { enqueue, type OutboxWrite } from "../state/outbox.repo.ts";
import { addCounts, type Counts, zeroCounts } from "../state/runs.repo.ts";
import { deleteSnapshots, loadObservations, storedKeys } from "../state/snapshots.repo.ts";
import type { Db } from "../state/store.ts";
import type { KeyConflicts } from "./decide.ts";
import { writeConflicts } from "./persist.ts";

/** The pseudo-field of a conflict about a whole record that a source no longer returns. */
export const DELETED_FIELD = "_deleted";

export interface DeleteContext {
  entity: string;
  source: string;
  runId: number;
  at: string;
  policy: JobConfig["deletes"]["policy"];
  maxShare: number;
  allowMassDelete: boolean;
  destinations: Record<string, DestinationMapping>;
  rules: MergeRules;
  onPlanned?: (e: { kind: "delete"; key: string }) => void;
}

/** What deleting some keys writes. */
export interface DeleteChanges {
  /** Keys whose snapshot rows go: this source no longer holds them. */
  removed: string[];
  golden: GoldenRecord[];
  conflicts: KeyConflicts[];
  outbox: OutboxWrite[];
  /** For a dry run: one delete per key acted on. */
  planned: { kind: "delete"; key: string }[];
}

const CHUNK = 1000;

export async function findMissing(db: Db, entity: string, source: string, seen: SeenKeys): Promise<string[]> {
  const missing: string[] = [];
  for await (const page of storedKeys(db, entity, source))
    for (const k of page) if (!seen.has(k)) missing.push(k);
  return missing;
}

/** Refuses to delete more than the job's share of the `total` records this source's snapshot holds. */
export function guardMassDelete(ctx: DeleteContext, missing: number, total: number): void {
  if (ctx.allowMassDelete || missing <= ctx.maxShare * total) return;
  throw new FatalError(
    "MASS_DELETE_REFUSED",
    `this run would delete ${missing} of ${total} records from ${ctx.source} (${((100 * missing) / total).toFixed(1)}%), more than the job's limit of ${(100 * ctx.maxShare).toFixed(0)}%. Nothing was deleted. If the source really lost these records, run again with --allow-mass-delete`,
    { details: { missing, total, maxShare: ctx.maxShare } },
  );
}

/** The `flag` policy: a conflict on each record's `_deleted` pseudo-field, unless one is open already. */
export function flagDeletes(
  ctx: DeleteContext,
  keys: readonly string[],
  open: ReadonlyMap<string, readonly OpenConflict[]>,
): DeleteChanges {
  const out: DeleteChanges = { removed: [], golden: [], conflicts: [], outbox: [], planned: [] };
  for (const key of keys) {
    if ((open.get(key) ?? []).some((c) => c.field === DELETED_FIELD)) continue;
    const candidates = [{ source: ctx.source, value: true, sourceTime: null, observedAt: ctx.at }];
    out.conflicts.push({
      key,
      changes: [{ type: "open", field: DELETED_FIELD, current: { value: false, source: ctx.source }, candidates }],
    });
    out.planned.push({ kind: "delete", key });
  }
  return out;
}

/** The state of the keys a source lets go of, as `withdrawDeletes` reads it. */
export interface DeleteState {
  golden: ReadonlyMap<string, GoldenRecord>;
  /** The other sources' observations: the holders left. */
  others: ReadonlyMap<string, readonly Observation[]>;
  open: ReadonlyMap<string, readonly OpenConflict[]>;
}

/**
 * The `propagate` and `archive` policies: the source's snapshot rows go, and each record is decided again
 * from the sources that still hold it; one that none holds is withdrawn (deleted or archived), its
 * destinations told and its conflicts closed.
 */
export function withdrawDeletes(ctx: DeleteContext, keys: readonly string[], state: DeleteState): DeleteChanges {
  const out: DeleteChanges = { removed: [...keys], golden: [], conflicts: [], outbox: [], planned: [] };
  for (const key of keys) {
    const before = state.golden.get(key);
    out.planned.push({ kind: "delete", key });
    if (!before) continue;
    const result = merge({
      rules: ctx.rules,
      entity: ctx.entity,
      key,
      current: before,
      holders: state.others.get(key) ?? [],
      openConflicts: state.open.get(key) ?? [],
      withdrawAs: ctx.policy === "archive" ? "archived" : "deleted",
    });
    if (result.touched) out.golden.push(result.record);
    if (result.conflicts.length > 0) out.conflicts.push({ key, changes: result.conflicts });
    for (const intent of plan(ctx.destinations, before, result.record)) {
      out.outbox.push({ ...intent, entity: ctx.entity, key, version: result.record.version });
    }
  }
  return out;
}

/** Writes what deleting some keys decided; returns what it counts (deleted, conflicts, outbox rows). */
export async function persistDeletes(db: Db, ctx: DeleteContext, changes: DeleteChanges) {
  const conflicts = await writeConflicts(db, ctx.entity, ctx.runId, ctx.at, changes.conflicts);
  for (const e of changes.planned) ctx.onPlanned?.(e);
  await deleteSnapshots(db, ctx.entity, ctx.source, changes.removed);
  await writeGolden(db, ctx.runId, ctx.at, changes.golden);
  const outbox = await enqueue(db, ctx.runId, ctx.at, changes.outbox);
  return { deleted: changes.removed.length, conflicts, outbox };
}

/** What becomes of some of the missing keys, from their state in the store. */
async function decideDeletes(db: Db, ctx: DeleteContext, keys: readonly string[]): Promise<DeleteChanges> {
  if (ctx.policy === "flag") return flagDeletes(ctx, keys, await loadOpenConflicts(db, ctx.entity, keys));
  const golden = await loadGolden(db, ctx.entity, keys);
  const others = await loadObservations(db, ctx.entity, keys, ctx.source);
  const open = await loadOpenConflicts(db, ctx.entity, keys);
  return withdrawDeletes(ctx, keys, { golden, others, open });
}

/**
 * Applies the job's delete policy to the missing keys, of the `total` records this source's snapshot
 * holds; adds what it did to the run's counts and returns them (deleted, conflicts, outbox rows).
 */
export async function applyDeletes(
  db: Db,
  ctx: DeleteContext,
  missing: readonly string[],
  total: number,
): Promise<Counts> {
  const counts = zeroCounts();
  if (missing.length === 0 || ctx.policy === "ignore") return counts;
  guardMassDelete(ctx, missing.length, total);
  for (let i = 0; i < missing.length; i += CHUNK) {
    const done = await persistDeletes(db, ctx, await decideDeletes(db, ctx, missing.slice(i, i + CHUNK)));
    counts.deleted += done.deleted;
    counts.conflicts += done.conflicts;
    counts.outbox += done.outbox;
  }
  await addCounts(db, ctx.runId, counts);
  return counts;
}
