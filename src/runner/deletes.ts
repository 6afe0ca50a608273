/**
 * Snapshot deletes: a key this source held last time and did not return now. Counted first, against the
 * mass-delete guard, and applied only if the run is within its limit (or told to allow more).
 */

import type { JobConfig } from "../config/job.schema.ts";
import type { DestinationMapping } from "../config/mapping.schema.ts";
import { withdraw } from "../engine/merge.ts";
import { plan } from "../engine/plan.ts";
import type { SeenKeys } from "../engine/seen-keys.ts";
import type { GoldenRecord } from "../engine/types.ts";
import { FatalError } from "../errors.ts";
import { applyConflictChanges, loadOpenConflicts } from "../state/conflicts.repo.ts";
import { loadGolden, writeGolden } from "../state/golden.repo.ts";
import { enqueue, type OutboxWrite } from "../state/outbox.repo.ts";
import { addCounts, zeroCounts } from "../state/runs.repo.ts";
import {
  deleteSnapshots,
  loadOtherObservations,
  storedKeys,
} from "../state/snapshots.repo.ts";
import type { Db } from "../state/store.ts";

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
  onPlanned?: (e: { kind: "delete"; key: string }) => void;
}

export async function findMissing(db: Db, entity: string, source: string, seen: SeenKeys): Promise<string[]> {
  const missing: string[] = [];
  for await (const page of storedKeys(db, entity, source))
    for (const k of page) if (!seen.has(k)) missing.push(k);
  return missing;
}

/**
 * Applies the job's delete policy to the missing keys, of the `total` records this source's snapshot
 * holds; returns how many records it deleted or flagged.
 */
export async function applyDeletes(
  db: Db,
  ctx: DeleteContext,
  missing: readonly string[],
  total: number,
): Promise<number> {
  if (missing.length === 0 || ctx.policy === "ignore") return 0;
  if (!ctx.allowMassDelete && missing.length > ctx.maxShare * total) {
    throw new FatalError(
      "MASS_DELETE_REFUSED",
      `this run would delete ${missing.length} of ${total} records from ${ctx.source} (${((100 * missing.length) / total).toFixed(1)}%), more than the job's limit of ${(100 * ctx.maxShare).toFixed(0)}%. Nothing was deleted. If the source really lost these records, run again with --allow-mass-delete`,
      { details: { missing: missing.length, total, maxShare: ctx.maxShare } },
    );
  }
  const counts = zeroCounts();
  for (let i = 0; i < missing.length; i += 1000) {
    const keys = missing.slice(i, i + 1000);
    const golden = await loadGolden(db, ctx.entity, keys);
    if (ctx.policy === "flag") {
      const open = await loadOpenConflicts(db, ctx.entity, keys);
      for (const key of keys) {
        if ((open.get(key) ?? []).some((c) => c.field === DELETED_FIELD)) continue;
        counts.conflicts += await applyConflictChanges(db, ctx.entity, key, ctx.runId, ctx.at, [
          {
            type: "open",
            field: DELETED_FIELD,
            current: { value: false, source: ctx.source },
            candidates: [{ source: ctx.source, value: true, sourceTime: null, observedAt: ctx.at }],
          },
        ]);
        ctx.onPlanned?.({ kind: "delete", key });
      }
      continue;
    }
    const others = await loadOtherObservations(db, ctx.entity, ctx.source, keys);
    const writes: GoldenRecord[] = [];
    const outbox: OutboxWrite[] = [];
    for (const key of keys) {
      const before = golden.get(key);
      ctx.onPlanned?.({ kind: "delete", key });
      // Another source still holds the record: only this source's contribution goes.
      if (!before || (others.get(key)?.length ?? 0) > 0) continue;
      const after = withdraw(before, ctx.policy === "archive" ? "archived" : "deleted");
      writes.push(after);
      for (const intent of plan(ctx.destinations, before, after)) {
        outbox.push({ ...intent, entity: ctx.entity, key, version: after.version });
      }
    }
    await deleteSnapshots(db, ctx.entity, ctx.source, keys);
    await writeGolden(db, ctx.runId, ctx.at, writes);
    counts.outbox += await enqueue(db, ctx.runId, ctx.at, outbox);
    counts.deleted += keys.length;
  }
  await addCounts(db, ctx.runId, counts);
  return counts.deleted + counts.conflicts;
}
