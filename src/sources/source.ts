/**
 * The contract every source implements. A source is an async generator of batches: pull-based, so the
 * engine's pace is the source's pace and memory depends on the batch size, never on the table or file.
 */
import type { ProjectDeclarations, SourceSpec, SyncMode } from "../config/connector.ts";
import type { DataError, FerryError } from "../errors.ts";
import type { EachFile } from "../files/each-file.ts";
import type { RunContext } from "../run-context.ts";

export type { SyncMode };

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
  /** The source columns the mapping reads, as it spells them (files match header names to them loosely). */
  columns?: readonly string[];
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

export interface FilesOptions {
  dryRun?: boolean;
  /**
   * Whether the remote file with this name, size and time was taken before and is still on the server
   * (SFTP asks before downloading).
   */
  alreadyTaken?: (name: string, size: number, mtime: string) => Promise<boolean>;
  /**
   * SFTP: the post-action moved or deleted a file taken (the last one with this name, size and time, once
   * the ledger holds it): one listed again afterwards is a new upload.
   */
  removed?: (name: string, size: number, mtime: string) => Promise<void>;
}

/** A file a folder or SFTP source has taken: it is applied as a run of its own, whole or not at all. */
export interface IncomingFile {
  /** The file's name as it was dropped, for reports, logs and the ledger. */
  readonly name: string;
  readonly size: number;
  /** ISO 8601 modification time (the server's, for SFTP). */
  readonly mtime: string;
  /** SHA-256 of the content: the same content is never applied twice. */
  readonly hash: string;
  /** Where its report is written while the file is processed. */
  readonly reportPath: string;
  /** The file as a source of its own, with `commitUnit: "run"`. `onLine` hears of every line read. */
  open(onLine: (line: number, key: unknown) => void): Source;
  /**
   * Called once the file was read, before its run commits (and after a run that failed): whether the
   * file is still what was taken, its size and time unchanged. When it is not (a writer still at work),
   * returns the error to stop its run with (SOURCE_FILE_CHANGED, saying where the file goes back to);
   * the run is rolled back and `putBack` is called instead of `settle`. Null when unchanged.
   */
  changed(): Promise<FerryError | null>;
  /**
   * Puts back a file that changed while it was read, nothing of it applied, to be taken again once
   * complete (into the folder it was dropped in; an SFTP file is left on the server). Returns where it
   * is, for the run's summary.
   */
  putBack(): Promise<string>;
  /**
   * Called once, when what became of the file is known: moves it (with its report) to archive/ when it
   * was applied or recognised as a duplicate, to failed/ when it was not; SFTP sources then apply their
   * post-action on the server. Returns where the file went, for the run's summary.
   */
  settle(outcome: "applied" | "partial" | "duplicate" | "failed"): Promise<string>;
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
  /**
   * File sources: what each file holds, as the job's `each_file` says; unset, the job's delete policy
   * decides (`eachFileOf`). It decides whether a file equal to an older one is applied or a duplicate.
   */
  readonly eachFile?: EachFile | undefined;
  /**
   * File sources: the files ready to take now, taken one at a time (each is moved out of the way before
   * it is yielded). The runner applies each as a run of its own and settles it; `read` is not used. A dry
   * run reads them where they are and moves nothing.
   */
  files?(signal: AbortSignal, options?: FilesOptions): AsyncIterable<IncomingFile>;
  /** File sources under `ferry serve`: calls `onArrival` when a file may have become ready, until aborted. */
  watch?(onArrival: () => void, signal: AbortSignal): void;
  /** Connects and reads at most `limit` rows, writing nothing; sources that can say more implement it. */
  check?(options: { limit: number; signal: AbortSignal }): Promise<SourceCheck>;
  close(): Promise<void>;
}

/**
 * What a source is given when it is created: the run context, and the connection it reads through
 * (`connectionOf`), by name, from ferry.yaml's `connections:`, its references resolved and its credential
 * fields still references, for the source to resolve when it connects.
 */
export interface SourceContext extends RunContext {
  readonly connections: ProjectDeclarations["connections"];
}

/**
 * A source connector, said once: what the configuration layer needs (its `source:` block schema, its
 * modes, its checks: see `SourceSpec`) and its constructor. Registered in `registry.ts`.
 */
export interface SourceDefinition<C = unknown> extends SourceSpec<C> {
  create(config: C, context: SourceContext): Source;
}
