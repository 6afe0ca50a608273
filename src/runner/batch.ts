/**
 * One batch through the core: map, detect what changed, merge, plan. Reads the state it needs through the
 * transaction it is given and writes everything the batch covers through the same transaction: snapshot
 * rows, golden records, conflicts, outbox rows, rejects, counters and the checkpoint.
 */

import type { DestinationMapping } from "../config/mapping.schema.ts";
import { changedFields, hashRow } from "../engine/diff.ts";
import type { CompiledMapping } from "../engine/map.ts";
import { type MergeRules, merge } from "../engine/merge.ts";
import { plan } from "../engine/plan.ts";
import type { SeenKeys } from "../engine/seen-keys.ts";
import type { GoldenRecord, Values } from "../engine/types.ts";
import type { CursorPosition, SourceBatch } from "../sources/source.ts";
import { applyConflictChanges, loadOpenConflicts } from "../state/conflicts.repo.ts";
import { loadGolden, writeGolden } from "../state/golden.repo.ts";
import { enqueue, type OutboxWrite } from "../state/outbox.repo.ts";
import { saveCheckpoint } from "../state/checkpoints.repo.ts";
import { type RejectRow, writeRejects } from "../state/run-rejects.repo.ts";
import { addCounts, type Counts, zeroCounts } from "../state/runs.repo.ts";
import {
  loadOtherObservations,
  loadSnapshotHashes,
  loadSnapshotValues,
  type SnapshotWrite,
  updateSnapshotHashes,
  writeSnapshots,
} from "../state/snapshots.repo.ts";
import type { Db } from "../state/store.ts";
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

export interface BatchOutcome {
  counts: Counts;
  rejects: RejectRow[];
  /** Keys read for the first time in this run that the source's snapshot already held. */
  found: number;
  /** Keys the source's snapshot did not hold, added by this batch. */
  added: number;
}

interface Candidate {
  key: string;
  values: Values;
  hash: string;
  /** Whether the source's snapshot holds the key (with another digest). */
  stored: boolean;
  line: number;
  sourceTime: string | null;
}

export async function processBatch(
  db: Db,
  ctx: BatchContext,
  batch: SourceBatch,
  position?: CursorPosition,
): Promise<BatchOutcome> {
  const counts = zeroCounts();
  const rejects: RejectRow[] = [];
  const { compiled } = ctx;
  counts.read = batch.rows.length + batch.rejects.length;
  for (const r of batch.rejects)
    rejects.push({ line: r.line, key: null, code: r.error.code, reason: r.error.message });

  // Each row's key and digest first, so that one lookup finds which rows are unchanged since the last
  // snapshot: those are counted and passed over without being mapped.
  const keys: (string | null)[] = new Array(batch.rows.length);
  const hashes: string[] = new Array(batch.rows.length);
  const lookup: string[] = [];
  for (let i = 0; i < batch.rows.length; i++) {
    const values = batch.rows[i]!.values;
    const key = compiled.keyOf(values);
    keys[i] = key;
    hashes[i] = hashRow(values, compiled.columns, ctx.signature);
    if (key !== null) lookup.push(key);
  }
  const stored = await loadSnapshotHashes(db, compiled.entity, ctx.source, lookup);

  // Keys read in this batch. A snapshot run's SeenKeys holds them already; cursor runs need their own.
  const inBatch = ctx.seen ? null : new Set<string>();
  let found = 0;
  /** Adds the key to the keys read; false when it was read already in this run (a duplicate). */
  const firstRead = (key: string) => {
    const first = ctx.seen ? ctx.seen.add(key) : !inBatch!.has(key) && !!inBatch!.add(key);
    if (first && stored.has(key)) found++;
    return first;
  };
  const duplicate = (line: number, key: string, index: number) => {
    const first = batch.rows.findIndex((_, j) => j < index && keys[j] === key);
    rejects.push({
      line,
      key,
      code: "DATA_DUPLICATE_KEY",
      reason: `key ${key} was already read ${first >= 0 ? `at line ${batch.rows[first]!.line}` : "earlier in this run"}; only the first is applied. Fix the duplicate at the source`,
    });
  };

  const candidates: Candidate[] = [];
  for (let i = 0; i < batch.rows.length; i++) {
    const row = batch.rows[i]!;
    const known = keys[i] === null ? undefined : stored.get(keys[i]!);
    if (known === hashes[i]) {
      // The same row under the same mapping and filter as when it was last accepted: unchanged.
      if (firstRead(keys[i]!)) counts.unchanged++;
      else duplicate(row.line, keys[i]!, i);
      continue;
    }
    const mapped = compiled.map(row.values);
    if (!mapped.ok) {
      // A row refused for a bad value is still at the source: its record is not taken for a delete.
      if (keys[i] !== null) firstRead(keys[i]!);
      const raw = compiled.keyColumn ? row.values[compiled.keyColumn] : undefined;
      rejects.push({
        line: row.line,
        key: raw === null || raw === undefined || raw === "" ? null : String(raw),
        code: mapped.error.code,
        reason: mapped.error.message,
      });
      continue;
    }
    if (!ctx.filter(mapped.values)) {
      // Out of the job's scope is not gone from the source: a filtered record is never taken for a delete.
      firstRead(mapped.key);
      counts.filtered++;
      continue;
    }
    if (!firstRead(mapped.key)) {
      duplicate(row.line, mapped.key, i);
      continue;
    }
    candidates.push({
      key: mapped.key,
      values: mapped.values,
      hash: hashes[i]!,
      stored: known !== undefined,
      line: row.line,
      sourceTime: ctx.sourceTime(row.values),
    });
  }
  counts.rejected = rejects.length;
  rejects.sort((a, b) => a.line - b.line);

  // A row whose digest changed may still map to the values stored (a column the mapping trims, a new
  // mapping that maps alike): it is unchanged, and only its snapshot's digest is brought up to date.
  const updatedKeys = candidates.filter((c) => c.stored).map((c) => c.key);
  const previousValues =
    updatedKeys.length > 0
      ? await loadSnapshotValues(db, compiled.entity, ctx.source, updatedKeys)
      : new Map<string, Values>();
  const changedCandidates: Candidate[] = [];
  const rehashed: { key: string; hash: string }[] = [];
  for (const c of candidates) {
    const previous = previousValues.get(c.key);
    if (previous && changedFields(previous, c.values, compiled.fields).length === 0) {
      counts.unchanged++;
      rehashed.push({ key: c.key, hash: c.hash });
    } else changedCandidates.push(c);
  }
  counts.changed = changedCandidates.length;
  await updateSnapshotHashes(db, compiled.entity, ctx.source, rehashed);

  if (changedCandidates.length > 0) {
    const changed = changedCandidates.map((c) => ({ c, previous: previousValues.get(c.key) }));
    const keys = changedCandidates.map((c) => c.key);
    const golden = await loadGolden(db, compiled.entity, keys);
    const others = ctx.multiSource
      ? await loadOtherObservations(db, compiled.entity, ctx.source, keys)
      : new Map();
    // Fields with an open conflict (a `flag` rule's, or an edit made in a destination) carry a mark.
    const conflictKeys = keys.filter((k) => Object.values(golden.get(k)?.fields ?? {}).some((f) => f.conflicted));
    const open =
      conflictKeys.length > 0 ? await loadOpenConflicts(db, compiled.entity, conflictKeys) : new Map();

    const snapshotWrites: SnapshotWrite[] = [];
    const goldenWrites: GoldenRecord[] = [];
    const outbox: OutboxWrite[] = [];
    for (const { c, previous } of changed) {
      snapshotWrites.push({ key: c.key, hash: c.hash, values: c.values, sourceTime: c.sourceTime });
      const before = golden.get(c.key);
      const result = merge({
        rules: ctx.rules,
        entity: compiled.entity,
        key: c.key,
        current: before,
        incoming: {
          source: ctx.source,
          values: c.values,
          sourceTime: c.sourceTime,
          observedAt: ctx.observedAt,
          run: String(ctx.runId),
        },
        changed: changedFields(previous, c.values, compiled.fields),
        others: others.get(c.key) ?? [],
        openConflicts: open.get(c.key) ?? [],
      });
      if (result.touched) goldenWrites.push(result.record);
      if (result.conflicts.length > 0) {
        counts.conflicts += await applyConflictChanges(
          db,
          compiled.entity,
          c.key,
          ctx.runId,
          ctx.observedAt,
          result.conflicts,
        );
        for (const x of result.conflicts)
          if (x.type === "open") ctx.onPlanned?.({ kind: "conflict", key: c.key, field: x.field });
      }
      if (result.changed.length > 0 && ctx.onPlanned) {
        ctx.onPlanned({
          kind: before && before.status === "active" ? "update" : "create",
          key: c.key,
          fields: result.changed,
        });
      }
      for (const intent of plan(ctx.destinations, before, result.record)) {
        outbox.push({ ...intent, entity: compiled.entity, key: c.key, version: result.record.version });
      }
    }
    await writeSnapshots(db, compiled.entity, ctx.source, ctx.runId, ctx.observedAt, snapshotWrites);
    await writeGolden(db, ctx.runId, ctx.observedAt, goldenWrites);
    counts.outbox = await enqueue(db, ctx.runId, ctx.observedAt, outbox);
  }

  for (const r of rejects) ctx.onPlanned?.({ kind: "reject", line: r.line, key: r.key, reason: r.reason });
  await writeRejects(db, ctx.runId, rejects);
  await addCounts(db, ctx.runId, counts);
  if (position) await saveCheckpoint(db, ctx.job, ctx.runId, ctx.observedAt, position);
  return { counts, rejects, found, added: changedCandidates.filter((c) => !c.stored).length };
}
