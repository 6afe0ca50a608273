/**
 * A file source's run: each file taken is a run of its own, applied whole in one transaction that also
 * records it in the file ledger, then settled (archive/ or failed/) with its report. A file whose content
 * was applied before, under any name, is reported as a duplicate and not applied again, unless each file
 * of the job is the full list and that content has been superseded since (`fileVerdict`).
 */
import type { LoadedJob, Project } from "../config/load.ts";
import { describeError, type FerryError } from "../errors.ts";
import { eachFileOf, fileVerdict, type FileVerdict } from "../files/each-file.ts";
import { FileReport, runRejectsAfter, writeOneLineReport } from "../files/report.ts";
import type { FilesOptions, IncomingFile, Source } from "../sources/source.ts";
import { type FileEntry, fileHistory, markRemoved, recordFile, seenRemote } from "../state/files.repo.ts";
import { type Counts, zeroCounts } from "../state/runs.repo.ts";
import type { StateStore } from "../state/store.ts";
import { prepareRun, runTable } from "./run-table.ts";
import type { FileRunResult, RunOptions, RunResult } from "./run-types.ts";

const SEVERITY: Record<RunResult["status"], number> = { succeeded: 0, partial: 1, refused: 2, failed: 3 };

/** What the ledger will say of a file, but for its run and outcome; `reason` notes a full list applied again. */
type LedgerEntry = Omit<FileEntry, "runId" | "outcome">;

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
  return { name: file.name, outcome, movedTo: "", runId: null, counts, report: summary };
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
    return { name: file.name, outcome, movedTo, runId: result.runId, counts: result.counts, report: summary, ...note };
  }
  const reason = result.error ? result.error.message : "the run failed";
  const summary = await report.fail(reason);
  const movedTo = await file.settle("failed");
  await recordFile(store.knex, { ...entry, runId: result.runId, outcome: "failed", reason });
  return { name: file.name, outcome: "failed", movedTo, runId: result.runId, counts: result.counts, report: summary, reason };
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
  const totals = zeroCounts();
  const files: FileRunResult[] = [];
  let status: RunResult["status"] = "succeeded";
  let error: FerryError | Error | undefined;
  let lastRunId: number | null = null;
  const rejects: RunResult["rejects"] = [];
  const eachFile = eachFileOf(inbox.eachFile, job.config.deletes.policy);
  try {
    const ledger: FilesOptions = {
      alreadyTaken: (name, size, mtime) => seenRemote(store.knex, job.name, name, size, mtime),
      removed: (name, size, mtime) => markRemoved(store.knex, job.name, name, size, mtime, now().toISOString()),
    };
    for await (const file of inbox.files!(signal, { dryRun: options.dryRun, ...ledger })) {
      const at = now().toISOString();
      // A dry run reads every waiting file as it would be applied, duplicates or not.
      const verdict: FileVerdict = options.dryRun
        ? { apply: true }
        : fileVerdict(eachFile, file.hash, await fileHistory(store.knex, job.name, file.hash));
      const entry: LedgerEntry = { job: job.name, name: file.name, hash: file.hash, size: file.size, mtime: file.mtime, processedAt: at };
      if (!verdict.apply) {
        files.push(await settleDuplicate(store, file, entry, verdict.reason));
        log.info({ file: file.name, previous: verdict.previous.name, eachFile }, "file already applied: not applied again");
        continue;
      }
      if (verdict.note) {
        entry.reason = verdict.note;
        log.info({ file: file.name, eachFile }, "a full list equal to an older one: applied again");
      }
      const report = new FileReport(file.reportPath);
      const source = file.open((line, key) => report.note(line, key));
      const fileOptions: RunOptions = {
        ...options,
        source,
        beforeCommit: (db, runId, counts) =>
          recordFile(db, { ...entry, runId, outcome: counts.rejected > 0 ? "partial" : "applied" }),
      };
      const result = await runTable(prepareRun(project, job, fileOptions), store, fileOptions, source);
      lastRunId = result.runId;
      for (const k of Object.keys(totals) as (keyof Counts)[]) totals[k] += result.counts[k];
      for (const r of result.rejects) if (rejects.length < 100) rejects.push(r);
      if (SEVERITY[result.status] > SEVERITY[status]) status = result.status;
      if (options.dryRun) {
        files.push(await discardFile(file, report, result));
        continue;
      }
      files.push(await settleFile(store, file, entry, report, result));
      if (result.status !== "succeeded" && result.status !== "partial") {
        error ??= result.error;
        log.warn({ file: file.name, err: describeError(result.error) }, "file failed: nothing of it was applied");
      }
      // A run stopped by a signal leaves the next files where they are.
      if (signal.aborted) break;
    }
  } catch (e) {
    error = e as Error;
    status = "failed";
  } finally {
    await inbox.close();
  }
  return {
    runId: lastRunId,
    job: job.name,
    status,
    counts: totals,
    rejects,
    files,
    ...(error ? { error } : {}),
  };
}
