/**
 * One batch through the core: map, diff, merge, plan, persist. The pure steps (`classifyRows`, `diffRows`,
 * `decideChanges`) take what the loads between them read through the batch's transaction, and
 * `persistBatch` writes everything the batch covers through the same transaction.
 */
import { diffRows } from "../engine/diff.ts";
import type { CursorPosition, SourceBatch } from "../sources/source.ts";
import { loadOpenConflicts } from "../state/conflicts.repo.ts";
import { loadGolden } from "../state/golden.repo.ts";
import type { RejectRow } from "../state/run-rejects.repo.ts";
import type { Counts } from "../state/runs.repo.ts";
import { loadObservations, loadSnapshotHashes, loadSnapshotValues } from "../state/snapshots.repo.ts";
import type { Db } from "../state/store.ts";
import type { BatchContext } from "./batch-context.ts";
import { classifyRows, digestRows } from "./classify.ts";
import { decideChanges, type MergeState } from "./decide.ts";
import { persistBatch } from "./persist.ts";

export interface BatchOutcome {
  counts: Counts;
  rejects: RejectRow[];
  /** Keys read for the first time in this run that the source's snapshot already held. */
  found: number;
  /** Keys the source's snapshot did not hold, added by this batch. */
  added: number;
}

const NOTHING_LOADED: MergeState = { golden: new Map(), others: new Map(), open: new Map() };

/** The golden records of these keys, the other sources' observations and the open conflicts, for merge. */
async function loadMergeState(db: Db, ctx: BatchContext, keys: readonly string[]): Promise<MergeState> {
  if (keys.length === 0) return NOTHING_LOADED;
  const { entity } = ctx.compiled;
  const golden = await loadGolden(db, entity, keys);
  const others = ctx.multiSource ? await loadObservations(db, entity, keys, ctx.source) : new Map();
  // Fields with an open conflict (a `flag` rule's, or an edit made in a destination) carry a mark.
  const conflictKeys = keys.filter((k) => Object.values(golden.get(k)?.fields ?? {}).some((f) => f.conflicted));
  const open = conflictKeys.length > 0 ? await loadOpenConflicts(db, entity, conflictKeys) : new Map();
  return { golden, others, open };
}

export async function processBatch(
  db: Db,
  ctx: BatchContext,
  batch: SourceBatch,
  position?: CursorPosition,
): Promise<BatchOutcome> {
  const { entity, fields } = ctx.compiled;
  // Keys and digests first, so that one lookup passes over the rows unchanged since the last snapshot.
  const digests = digestRows(batch.rows, ctx.compiled, ctx.signature);
  const stored = await loadSnapshotHashes(db, entity, ctx.source, digests.lookup);
  const classified = classifyRows(batch, digests, stored, ctx);

  const storedKeys = classified.candidates.filter((c) => c.stored).map((c) => c.key);
  const previous = storedKeys.length > 0 ? await loadSnapshotValues(db, entity, ctx.source, storedKeys) : new Map();
  const diff = diffRows(classified.candidates, previous, fields);

  const state = await loadMergeState(db, ctx, diff.changed.map((c) => c.row.key));
  const changes = decideChanges(ctx, diff.changed, state);

  const counts: Counts = {
    read: batch.rows.length + batch.rejects.length,
    unchanged: classified.unchanged + diff.same.length,
    changed: diff.changed.length,
    rejected: classified.rejects.length,
    filtered: classified.filtered,
    deleted: 0,
    conflicts: 0,
    outbox: 0,
  };
  const written = await persistBatch(db, ctx, {
    counts,
    rehashed: diff.same,
    changes,
    rejects: classified.rejects,
    position,
  });
  const added = diff.changed.filter((c) => !c.row.stored).length;
  return { counts: written, rejects: classified.rejects, found: classified.found, added };
}
