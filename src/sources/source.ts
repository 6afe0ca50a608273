/**
 * The contract every source implements. A source is an async generator of batches: pull-based, so the
 * engine's pace is the source's pace and memory depends on the batch size, never on the table or file.
 */
import type { z } from "zod";
import type { DataError } from "../errors.ts";
import type { Logger } from "../log.ts";

export type SyncMode = "snapshot" | "cursor";

/** Where a cursor-mode read resumes: the last (cursor, key) committed, compared inclusively. */
export interface CursorPosition {
  cursor: string | number;
  key: string | number;
}

export interface ReadRequest {
  mode: SyncMode;
  batchSize: number;
  /** The source column holding the key; sources that page by key need it. */
  keyColumn: string;
  /** Cursor mode: the cursor column, the last committed position, and the lookback to re-read. */
  cursor?: { column: string; lookback: string | number | null; from: CursorPosition | null };
  signal: AbortSignal;
}

export interface SourceRow {
  values: Record<string, unknown>;
  /** Line (files) or row number (queries) for reports and errors, 1-based. */
  line: number;
}

export interface SourceReject {
  line: number;
  error: DataError;
}

export interface SourceBatch {
  rows: SourceRow[];
  /** Rows the source could not even read (a ragged CSV line). They count as read and rejected. */
  rejects: SourceReject[];
  /** The columns the rows carry; the engine checks the mapping against them once. */
  columns: string[];
  /** Cursor mode: the position after this batch, checkpointed in the batch's transaction. */
  position?: CursorPosition;
}

/** What `ferry check` shows of a source: a sample of what it reads, and what it found out on the way. */
export interface SourceCheck {
  columns: string[];
  /** A few rows, as the engine would receive them. */
  rows: Record<string, unknown>[];
  /** Facts worth knowing (how reads are kept read-only...). */
  notes: string[];
  /** Things to fix before trusting a nightly run (a login that could write...). */
  warnings: string[];
}

export interface Source {
  /** Where this source reads from, for logs and reports (never a credential). */
  readonly describe: string;
  /**
   * `batch`: each batch commits on its own (tables). `run`: the whole read commits at once or not at all
   * (a file is applied completely or not at all).
   */
  readonly commitUnit: "batch" | "run";
  read(request: ReadRequest): AsyncIterable<SourceBatch>;
  /** Connects and reads at most `limit` rows, writing nothing; sources that can say more implement it. */
  check?(options: { limit: number; signal: AbortSignal }): Promise<SourceCheck>;
  close(): Promise<void>;
}

export interface SourceContext {
  /** The folder relative paths are resolved against (the project's). */
  baseDir: string;
  connections: Record<string, unknown>;
  log: Logger;
  /** The environment secret references resolve against (the project's). */
  env: NodeJS.ProcessEnv;
  /** The run's own folder, for what a failed run leaves to debug it (screenshots, traces); created on demand. */
  artifactsDir?: string;
}

export interface SourceDefinition<C = unknown> {
  type: string;
  /** The `source:` block of a job of this type (with `type` as its discriminator). */
  configSchema: z.ZodType<C>;
  modes: readonly SyncMode[];
  create(config: C, context: SourceContext): Source;
}
