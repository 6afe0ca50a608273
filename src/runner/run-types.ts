/** What a run of a job is given and what it returns, for a table source and a file source alike. */
import type { FerryError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Source } from "../sources/source.ts";
import type { FileOutcome } from "../state/files.repo.ts";
import type { RejectRow } from "../state/run-rejects.repo.ts";
import type { Counts } from "../state/runs.repo.ts";
import type { Db } from "../state/store.ts";
import type { PlannedEvent } from "./batch-context.ts";

export interface RunOptions {
  dryRun?: boolean;
  allowMassDelete?: boolean;
  signal?: AbortSignal;
  now?: () => Date;
  log: Logger;
  onProgress?: (counts: Counts) => void;
  /** Dry runs: receives each planned create, update, delete, conflict and reject. */
  onPlanned?: (event: PlannedEvent) => void;
  /** Reads this source instead of the job's (one file of a file source). */
  source?: Source;
  /** Runs in the run's transaction just before it commits (a file source's ledger entry). */
  beforeCommit?: (db: Db, runId: number, counts: Counts) => Promise<void>;
}

export interface RunResult {
  runId: number | null;
  job: string;
  status: "succeeded" | "partial" | "failed" | "refused";
  counts: Counts;
  /** The first rejected rows, for the summary (all of them are in the state store). */
  rejects: RejectRow[];
  error?: FerryError | Error;
  /** File sources: one entry per file taken, each applied as a run of its own. */
  files?: FileRunResult[];
}

export interface FileRunResult {
  name: string;
  outcome: FileOutcome;
  /** Where the file went (archive/... or failed/...), relative to the project. */
  movedTo: string;
  runId: number | null;
  counts: Counts;
  /** Lines of the report: accepted + rejected = read. */
  report: { read: number; accepted: number; rejected: number };
  reason?: string;
  /** How the file's own run ended (none for a duplicate, which has no run), and what stopped it. */
  status?: RunResult["status"];
  error?: FerryError | Error;
  /** The first rejected rows of the file's run. */
  rejects?: RejectRow[];
}
