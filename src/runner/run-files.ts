/**
 * A file source's run: each file taken is a run of its own, applied whole in one transaction that also
 * records it in the file ledger, then settled (archive/ or failed/) with its report. A file whose content
 * was applied before, under any name, is reported as a duplicate and not applied again.
 */
import type { LoadedJob, Project } from "../config/load.ts";
import { describeError, type FerryError } from "../errors.ts";
import { FileReport, runRejectsAfter, writeOneLineReport } from "../files/report.ts";
import type { Source } from "../sources/source.ts";
import { appliedWithHash, type FileOutcome, recordFile, seenRemote } from "../state/files.repo.ts";
import { type Counts, zeroCounts } from "../state/runs.repo.ts";
import type { StateStore } from "../state/store.ts";
import { type RunOptions, type RunResult, runJob } from "./run-job.ts";

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
}

const SEVERITY: Record<RunResult["status"], number> = { succeeded: 0, partial: 1, refused: 2, failed: 3 };

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
  try {
    const alreadyTaken = (name: string, size: number, mtime: string) => seenRemote(store.knex, job.name, name, size, mtime);
    for await (const file of inbox.files!(signal, { dryRun: options.dryRun, alreadyTaken })) {
      const at = now().toISOString();
      const entry = { job: job.name, name: file.name, hash: file.hash, size: file.size, mtime: file.mtime, processedAt: at };
      const previous = options.dryRun ? null : await appliedWithHash(store.knex, job.name, file.hash);
      if (previous) {
        const reason = `the same content as ${previous.name}, applied by run ${previous.runId} on ${previous.processedAt}: not applied again`;
        await writeOneLineReport(file.reportPath, "duplicate", reason);
        const movedTo = await file.settle("duplicate");
        await recordFile(store.knex, { ...entry, runId: null, outcome: "duplicate", reason });
        files.push({ name: file.name, outcome: "duplicate", movedTo, runId: null, counts: zeroCounts(), report: { read: 0, accepted: 0, rejected: 0 }, reason });
        log.info({ file: file.name, previous: previous.name }, "file already applied: not applied again");
        continue;
      }
      const report = new FileReport(file.reportPath);
      const result = await runJob(project, job, store, {
        ...options,
        source: file.open((line, key) => report.note(line, key)),
        beforeCommit: (db, runId, counts) =>
          recordFile(db, { ...entry, runId, outcome: counts.rejected > 0 ? "partial" : "applied" }),
      });
      lastRunId = result.runId;
      for (const k of Object.keys(totals) as (keyof Counts)[]) totals[k] += result.counts[k];
      for (const r of result.rejects) if (rejects.length < 100) rejects.push(r);
      if (SEVERITY[result.status] > SEVERITY[status]) status = result.status;
      if (options.dryRun) {
        await report.discard();
        files.push({ name: file.name, outcome: result.status === "failed" || result.status === "refused" ? "failed" : result.counts.rejected > 0 ? "partial" : "applied", movedTo: "", runId: null, counts: result.counts, report: { read: report.read, accepted: report.read - result.counts.rejected, rejected: result.counts.rejected } });
        continue;
      }
      if (result.status === "succeeded" || result.status === "partial") {
        const summary = await report.finish(runRejectsAfter(store.knex, result.runId!));
        const outcome = result.status === "partial" ? "partial" : "applied";
        const movedTo = await file.settle(outcome);
        files.push({ name: file.name, outcome, movedTo, runId: result.runId, counts: result.counts, report: summary });
      } else {
        error ??= result.error;
        const reason = result.error ? result.error.message : "the run failed";
        const summary = await report.fail(reason);
        const movedTo = await file.settle("failed");
        await recordFile(store.knex, { ...entry, runId: result.runId, outcome: "failed", reason });
        files.push({ name: file.name, outcome: "failed", movedTo, runId: result.runId, counts: result.counts, report: summary, reason });
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
