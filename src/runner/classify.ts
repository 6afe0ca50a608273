/**
 * classify: a batch's rows against the digests their source's snapshot holds. Each row's key and digest
 * come first (`digestRows`), so that one lookup finds the rows unchanged since the last snapshot;
 * `classifyRows` counts those without mapping them, and maps the others into rejects, filtered rows,
 * duplicates and the candidates that may carry a change. No I/O: the only state it touches is the run's
 * keys read so far (`seen`), which it adds the batch's keys to.
 */
import { hashRow } from "../engine/diff.ts";
import type { CompiledMapping } from "../engine/map.ts";
import type { Values } from "../engine/types.ts";
import type { SourceBatch, SourceRow } from "../sources/source.ts";
import type { RejectRow } from "../state/run-rejects.repo.ts";
import type { BatchContext } from "./batch-context.ts";

export interface Digests {
  /** Each row's key, in row order; null when the key itself is refused (mapping rejects the row). */
  keys: (string | null)[];
  /** Each row's digest, in row order (see `hashRow`). */
  hashes: string[];
  /** The keys that are not null: what to look up in the snapshot. */
  lookup: string[];
}

/** A mapped row that may carry a change: the snapshot does not hold its digest. */
export interface Candidate {
  key: string;
  values: Values;
  hash: string;
  /** Whether the source's snapshot holds the key (with another digest). */
  stored: boolean;
  line: number;
  sourceTime: string | null;
}

export interface Classification {
  /** Rows whose digest is the one stored, each read for the first time in this run. */
  unchanged: number;
  /** Rows out of the job's `filter:`. */
  filtered: number;
  /** The source's unreadable rows, rows refused by the mapping and duplicate keys, by line. */
  rejects: RejectRow[];
  candidates: Candidate[];
  /** Keys read for the first time in this run that the source's snapshot already held. */
  found: number;
}

export type ClassifyContext = Pick<BatchContext, "compiled" | "filter" | "sourceTime" | "seen">;

export function digestRows(
  rows: readonly SourceRow[],
  compiled: Pick<CompiledMapping, "keyOf" | "columns">,
  signature: string,
): Digests {
  const keys: (string | null)[] = new Array(rows.length);
  const hashes: string[] = new Array(rows.length);
  const lookup: string[] = [];
  for (let i = 0; i < rows.length; i++) {
    const values = rows[i]!.values;
    const key = compiled.keyOf(values);
    keys[i] = key;
    hashes[i] = hashRow(values, compiled.columns, signature);
    if (key !== null) lookup.push(key);
  }
  return { keys, hashes, lookup };
}

/**
 * The keys read so far: a snapshot run's `seen` holds them across batches, a cursor run (which re-reads a
 * key legitimately) keeps its own per batch. `first` adds a key and says whether it is new in the run.
 */
function keysRead(seen: ClassifyContext["seen"], stored: ReadonlyMap<string, string>) {
  const inBatch = seen ? null : new Set<string>();
  const tally = {
    found: 0,
    first(key: string): boolean {
      const first = seen ? seen.add(key) : !inBatch!.has(key) && !!inBatch!.add(key);
      if (first && stored.has(key)) tally.found++;
      return first;
    },
  };
  return tally;
}

function duplicate(rows: readonly SourceRow[], keys: Digests["keys"], index: number, key: string): RejectRow {
  const first = rows.findIndex((_, j) => j < index && keys[j] === key);
  return {
    line: rows[index]!.line,
    key,
    code: "DATA_DUPLICATE_KEY",
    reason: `key ${key} was already read ${first >= 0 ? `at line ${rows[first]!.line}` : "earlier in this run"}; only the first is applied. Fix the duplicate at the source`,
  };
}

/** A row the mapping refused, under the key it holds in its key column (if it is one column and not empty). */
function refused(row: SourceRow, keyColumn: string | null, error: { code: string; message: string }): RejectRow {
  const raw = keyColumn ? row.values[keyColumn] : undefined;
  return {
    line: row.line,
    key: raw === null || raw === undefined || raw === "" ? null : String(raw),
    code: error.code,
    reason: error.message,
  };
}

export function classifyRows(
  batch: Pick<SourceBatch, "rows" | "rejects">,
  digests: Digests,
  stored: ReadonlyMap<string, string>,
  ctx: ClassifyContext,
): Classification {
  const { rows } = batch;
  const { keys, hashes } = digests;
  const out: Classification = { unchanged: 0, filtered: 0, rejects: [], candidates: [], found: 0 };
  for (const r of batch.rejects) out.rejects.push({ line: r.line, key: null, code: r.error.code, reason: r.error.message });
  const read = keysRead(ctx.seen, stored);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const key = keys[i] ?? null;
    const known = key === null ? undefined : stored.get(key);
    if (key !== null && known === hashes[i]) {
      // The same row under the same mapping and filter as when it was last accepted: unchanged.
      if (read.first(key)) out.unchanged++;
      else out.rejects.push(duplicate(rows, keys, i, key));
      continue;
    }
    const mapped = ctx.compiled.map(row.values);
    if (!mapped.ok) {
      // A row refused for a bad value is still at the source: its record is not taken for a delete.
      if (key !== null) read.first(key);
      out.rejects.push(refused(row, ctx.compiled.keyColumn, mapped.error));
      continue;
    }
    if (!ctx.filter(mapped.values)) {
      // Out of the job's scope is not gone from the source: a filtered record is never taken for a delete.
      read.first(mapped.key);
      out.filtered++;
      continue;
    }
    if (!read.first(mapped.key)) {
      out.rejects.push(duplicate(rows, keys, i, mapped.key));
      continue;
    }
    const values = mapped.values;
    const sourceTime = ctx.sourceTime(row.values);
    out.candidates.push({ key: mapped.key, values, hash: hashes[i]!, stored: known !== undefined, line: row.line, sourceTime });
  }
  out.rejects.sort((a, b) => a.line - b.line);
  out.found = read.found;
  return out;
}
