/**
 * A file source's run: each file taken is a run of its own, applied whole in one transaction that also
 * records it in the file ledger, then settled (archive/ or failed/) with its report. A file whose content
 * was applied before, under any name, is reported as a duplicate and not applied again, unless each file
 * of the job is the full list and that content has been superseded since (`fileVerdict`). A file that
 * changed while it was read (a writer still at work) is rolled back and put back, to be taken again once
 * complete. One file failing holds back none of the others: each ends, and is reported, on its own.
 */
import type { LoadedJob, Project } from "../config/load.ts";
import { describeError, type FerryError } from "../errors.ts";
import { type EachFile, eachFileOf, fileVerdict, type FileVerdict } from "../files/each-file.ts";
import { FileReport, runRejectsAfter, writeOneLineReport } from "../files/report.ts";
import type { Logger } from "../log.ts";
import type { FilesOptions, IncomingFile, Source } from "../sources/source.ts";
import { type FileEntry, fileHistory, markRemoved, recordFile, seenRemote } from "../state/files.repo.ts";
import { type Counts, zeroCounts } from "../state/runs.repo.ts";
import type { StateStore } from "../state/store.ts";
import { prepareRun, runTable } from "./run-table.ts";
import type { FileRunResult, RunOptions, RunResult } from "./run-types.ts";

const SEVERITY: Record<RunResult["status"], number> = { succeeded: 0, partial: 1, refused: 2, failed: 3 };

/** What the ledger will say of a file, but for its run and outcome; `reason` notes a full list applied again. */
type LedgerEntry = Omit<FileEntry, "runId" | "outcome">;

/** What every file of one run works with. */
interface FilesRun {
  project: Project;
  job: LoadedJob;
  store: StateStore;
  options: RunOptions;
  log: Logger;
  now: () => Date;
  eachFile: EachFile;
  /** Each file's run as it ended, before the file is settled: what the run as a whole sums up. */
  ran: RunResult[];
}

/** What the run of a file said, for its result. */
const ofRun = (result: RunResult) => ({
  runId: result.runId,
  status: result.status,
  counts: result.counts,
  rejects: result.rejects,
  ...(result.error ? { error: result.error } : {}),
});

/** A file whose content was applied before: reported and settled as a duplicate, not applied. */
async function settleDuplicate(store: StateStore, file: IncomingFile, entry: LedgerEntry, reason: string): Promise<FileRunResult> {
  await writeOneLineReport(file.reportPath, "duplicate", reason);
  // In the ledger before it is settled, like an applied file: an SFTP post-action done then is noted on it.
  await recordFile(store.knex, { ...entry, runId: null, outcome: "duplicate", reason });
  const movedTo = await file.settle("duplicate");
  return { name: file.name, outcome: "duplicate", movedTo, runId: null, counts: zeroCounts(), report: { read: 0, accepted: 0, rejected: 0 }, reason };
}

/** What a dry run reports of a file: its outcome, had it been applied; nothing moves. */
async function discardFile(file: IncomingFile, report: FileReport, result: RunResult): Promise<FileRunResult> {
  await report.discard();
  const { counts } = result;
  const outcome = result.status === "failed" || result.status === "refused" ? "failed" : counts.rejected > 0 ? "partial" : "applied";
  const summary = { read: report.read, accepted: report.read - counts.rejected, rejected: counts.rejected };
  return { name: file.name, outcome, movedTo: "", report: summary, ...ofRun(result), runId: null };
}

/** Settles a file its run applied (archive/) or failed (failed/, and a ledger entry of its own), with its report. */
async function settleFile(
  store: StateStore,
  file: IncomingFile,
  entry: LedgerEntry,
  report: FileReport,
  result: RunResult,
): Promise<FileRunResult> {
  if (result.status === "succeeded" || result.status === "partial") {
    const summary = await report.finish(runRejectsAfter(store.knex, result.runId!));
    const outcome = result.status === "partial" ? "partial" : "applied";
    const movedTo = await file.settle(outcome);
    const note = entry.reason ? { reason: entry.reason } : {};
    return { name: file.name, outcome, movedTo, report: summary, ...note, ...ofRun(result) };
  }
  const reason = result.error ? result.error.message : "the run failed";
  const summary = await report.fail(reason);
  const movedTo = await file.settle("failed");
  await recordFile(store.knex, { ...entry, runId: result.runId, outcome: "failed", reason });
  return { name: file.name, outcome: "failed", movedTo, report: summary, reason, ...ofRun(result) };
}

/**
 * Puts back a file that changed while it was read (`changed`, the error saying so): its run, if it had
 * one, was rolled back; no report is kept (the file is not done with), and the ledger notes it was
 * returned. It counts as a failed run of the file, nothing of it applied, for the run's status.
 */
async function returnFile(
  r: FilesRun,
  file: IncomingFile,
  entry: LedgerEntry,
  changed: FerryError,
  run: { report: FileReport; result: RunResult } | null,
): Promise<FileRunResult> {
  r.log.warn({ file: file.name, err: describeError(changed) }, "file changed while it was read: put back, nothing of it applied");
  const unread = { runId: null, job: r.job.name, counts: zeroCounts(), rejects: [] };
  const result: RunResult = { ...(run?.result ?? unread), status: "failed", error: changed };
  r.ran.push(result);
  await run?.report.discard();
  const movedTo = await file.putBack();
  const reason = changed.message;
  await recordFile(r.store.knex, { ...entry, runId: result.runId, outcome: "returned", reason });
  const read = run?.report.read ?? 0;
  return { name: file.name, outcome: "returned", movedTo, report: { read, accepted: 0, rejected: read }, reason, ...ofRun(result) };
}

/** Whether the file changed while its run read it: the error its check stopped the run with, or one found now. */
async function changedWhileRead(file: IncomingFile, result: RunResult): Promise<FerryError | null> {
  const error = result.error as FerryError | undefined;
  if (error?.code === "SOURCE_FILE_CHANGED") return error;
  // A run that failed on a file still being written (a quote its writer has not closed yet): put it back too.
  if (result.status === "failed" || result.status === "refused") return file.changed();
  return null;
}

/** Applies one file as a run of its own (a dry run: reads it) and settles it. */
async function applyFile(r: FilesRun, file: IncomingFile, entry: LedgerEntry): Promise<FileRunResult> {
  const { options, store } = r;
  const report = new FileReport(file.reportPath);
  const source = file.open((line, key) => report.note(line, key));
  const fileOptions: RunOptions = {
    ...options,
    source,
    // The run's last step before it commits: a file that changed while it was read is not applied.
    beforeCommit: async (db, runId, counts) => {
      const changed = options.dryRun ? null : await file.changed();
      if (changed) throw changed;
      await recordFile(db, { ...entry, runId, outcome: counts.rejected > 0 ? "partial" : "applied" });
    },
  };
  const result = await runTable(prepareRun(r.project, r.job, fileOptions), store, fileOptions, source);
  if (options.dryRun) {
    r.ran.push(result);
    return discardFile(file, report, result);
  }
  const changed = await changedWhileRead(file, result);
  if (changed) return returnFile(r, file, entry, changed, { report, result });
  r.ran.push(result);
  const settled = await settleFile(store, file, entry, report, result);
  if (settled.outcome === "failed") {
    r.log.warn({ file: file.name, err: describeError(result.error) }, "file failed: nothing of it was applied");
  }
  return settled;
}

/** Takes one file: a duplicate is settled as such, any other applied as a run of its own. */
async function takeFile(r: FilesRun, file: IncomingFile): Promise<FileRunResult> {
  const { options, job, log, eachFile } = r;
  // A dry run reads every waiting file as it would be applied, duplicates or not.
  const verdict: FileVerdict = options.dryRun
    ? { apply: true }
    : fileVerdict(eachFile, file.hash, await fileHistory(r.store.knex, job.name, file.hash));
  const at = r.now().toISOString();
  const entry: LedgerEntry = { job: job.name, name: file.name, hash: file.hash, size: file.size, mtime: file.mtime, processedAt: at };
  if (!verdict.apply) {
    // A duplicate is settled unread: a writer still appending to it must not lose what it adds.
    const changed = await file.changed();
    if (changed) return returnFile(r, file, entry, changed, null);
    log.info({ file: file.name, previous: verdict.previous.name, eachFile }, "file already applied: not applied again");
    return settleDuplicate(r.store, file, entry, verdict.reason);
  }
  if (verdict.note) {
    entry.reason = verdict.note;
    log.info({ file: file.name, eachFile }, "a full list equal to an older one: applied again");
  }
  return applyFile(r, file, entry);
}

/**
 * The run as a whole: its files' runs summed, its status the worst of theirs, its error the one that
 * stopped it, else the first file's (each file keeps its own; the exit code weighs them all). A file whose
 * settling failed after its run ended is counted, though it is not among the files.
 */
function sumUp(job: string, ran: RunResult[], files: FileRunResult[], thrown: Error | undefined): RunResult {
  const counts = zeroCounts();
  let status: RunResult["status"] = thrown ? "failed" : "succeeded";
  let error: FerryError | Error | undefined = thrown;
  const rejects: RunResult["rejects"] = [];
  for (const result of ran) {
    for (const k of Object.keys(counts) as (keyof Counts)[]) counts[k] += result.counts[k];
    for (const x of result.rejects) if (rejects.length < 100) rejects.push(x);
    if (SEVERITY[result.status] > SEVERITY[status]) status = result.status;
    error ??= result.error;
  }
  const runId = ran.findLast((result) => result.runId !== null)?.runId ?? null;
  return { runId, job, status, counts, rejects, files, ...(error ? { error } : {}) };
}

export async function runFiles(
  project: Project,
  job: LoadedJob,
  store: StateStore,
  options: RunOptions,
  inbox: Source,
): Promise<RunResult> {
  const signal = options.signal ?? new AbortController().signal;
  const now = options.now ?? (() => new Date());
  const log = options.log.child({ job: job.name });
  const eachFile = eachFileOf(inbox.eachFile, job.config.deletes.policy);
  const r: FilesRun = { project, job, store, options, log, now, eachFile, ran: [] };
  const files: FileRunResult[] = [];
  let thrown: Error | undefined;
  try {
    const ledger: FilesOptions = {
      alreadyTaken: (name, size, mtime) => seenRemote(store.knex, job.name, name, size, mtime),
      removed: (name, size, mtime) => markRemoved(store.knex, job.name, name, size, mtime, now().toISOString()),
    };
    for await (const file of inbox.files!(signal, { dryRun: options.dryRun, ...ledger })) {
      files.push(await takeFile(r, file));
      // A run stopped by a signal leaves the next files where they are.
      if (signal.aborted) break;
    }
  } catch (e) {
    thrown = e as Error;
  } finally {
    await inbox.close();
  }
  return sumUp(job.name, r.ran, files, thrown);
}
