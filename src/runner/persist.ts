/**
 * persist: the one write of a batch. Everything the batch covers (snapshot rows and digests, conflicts,
 * golden records, outbox rows, rejects, the run's counts and the checkpoint) goes through the transaction
 * it is given, so the batch commits whole or not at all. A dry run's `onPlanned` hears of each change as it
 * is written.
 */
import type { CursorPosition } from "../sources/source.ts";
import { saveCheckpoint } from "../state/checkpoints.repo.ts";
import { applyConflictChanges } from "../state/conflicts.repo.ts";
import { writeGolden } from "../state/golden.repo.ts";
import { enqueue } from "../state/outbox.repo.ts";
import { type RejectRow, writeRejects } from "../state/run-rejects.repo.ts";
import { addCounts, type Counts } from "../state/runs.repo.ts";
import { updateSnapshotHashes, writeSnapshots } from "../state/snapshots.repo.ts";
import type { Db } from "../state/store.ts";
import type { BatchContext } from "./batch-context.ts";
import type { BatchChanges, KeyConflicts } from "./decide.ts";

export interface BatchWrites {
  /** The batch's counts but for conflicts and outbox rows, which are counted as they are written. */
  counts: Counts;
  /** Snapshot rows whose values stay as stored: only their digest changes. */
  rehashed: readonly { key: string; hash: string }[];
  changes: BatchChanges;
  rejects: readonly RejectRow[];
  /** Cursor mode: the position after this batch. */
  position?: CursorPosition;
}

export type PersistContext = Pick<BatchContext, "job" | "compiled" | "source" | "runId" | "observedAt" | "onPlanned">;

/** Writes the conflict changes of each record; returns how many conflicts they open. */
export async function writeConflicts(
  db: Db,
  entity: string,
  runId: number,
  at: string,
  conflicts: readonly KeyConflicts[],
): Promise<number> {
  let opened = 0;
  for (const c of conflicts) opened += await applyConflictChanges(db, entity, c.key, runId, at, c.changes);
  return opened;
}

/** Writes the batch; returns its counts, conflicts opened and outbox rows written included. */
export async function persistBatch(db: Db, ctx: PersistContext, writes: BatchWrites): Promise<Counts> {
  const { entity } = ctx.compiled;
  const { changes } = writes;
  const counts = { ...writes.counts };
  await updateSnapshotHashes(db, entity, ctx.source, writes.rehashed);
  counts.conflicts += await writeConflicts(db, entity, ctx.runId, ctx.observedAt, changes.conflicts);
  for (const e of changes.planned) ctx.onPlanned?.(e);
  await writeSnapshots(db, entity, ctx.source, ctx.runId, ctx.observedAt, changes.snapshots);
  await writeGolden(db, ctx.runId, ctx.observedAt, changes.golden);
  counts.outbox += await enqueue(db, ctx.runId, ctx.observedAt, changes.outbox);
  for (const r of writes.rejects) ctx.onPlanned?.({ kind: "reject", line: r.line, key: r.key, reason: r.reason });
  await writeRejects(db, ctx.runId, writes.rejects);
  await addCounts(db, ctx.runId, counts);
  if (writes.position) await saveCheckpoint(db, ctx.job, ctx.runId, ctx.observedAt, writes.position);
  return counts;
}
