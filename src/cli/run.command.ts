/** `ferry run`: read a job's source, merge, and deliver what changed, now, under the job's run lease. */
import type { Command } from "commander";
import { getJob, jobDestinations, type LoadedJob } from "../config/load.ts";
import { DEFAULT_WAIT, type DeliveryTally, deliverAll } from "../delivery/deliver.ts";
import { exitCodeOf } from "../errors.ts";
import { jobSystems } from "../project.ts";
import { type FileRunResult, type RunResult, runJob } from "../runner/run-job.ts";
import { leaseExpiryMs } from "../cluster/lease.ts";
import { withRunLease } from "../runner/run-lease.ts";
import { heldBy } from "../cluster/lease.ts";
import type { Lease } from "../state/leases.repo.ts";
import type { RejectRow } from "../state/run-rejects.repo.ts";
import { type CommandContext, createDestinations, type GlobalOptions, openContext, waitOf } from "./context.ts";
import { deliveryLine, errorCode, errorLine, Progress, printJson, reportStops, SAMPLE } from "./output.ts";

function summarize(result: Pick<RunResult, "runId" | "job" | "status" | "counts">): string {
  const c = result.counts;
  return `run ${result.runId ?? "(dry)"} of ${result.job}: ${result.status}. read ${c.read} = unchanged ${c.unchanged} + changed ${c.changed} + rejected ${c.rejected} + filtered ${c.filtered}; deleted ${c.deleted}, conflicts opened ${c.conflicts}, outbox rows ${c.outbox}`;
}

/** Whether the run left anything to deliver: a run that went through, or any file of a file source's run applied. */
function applied(result: RunResult): boolean {
  if (result.status !== "failed" && result.status !== "refused") return true;
  return (result.files ?? []).some((f) => f.outcome === "applied" || f.outcome === "partial");
}

interface RunCommandOptions {
  allowMassDelete?: boolean;
  deliver: boolean;
  /** How long a destination may stay unavailable before delivery gives up on it. */
  wait: string;
  /** When another process holds the job's run lease: wait for that run to end (else exit 6). */
  waitForRun?: boolean;
}

export function registerRunCommand(program: Command, globals: () => GlobalOptions) {
  program
    .command("run <job>")
    .description("run a job now: read, merge, and deliver what changed")
    .option("--allow-mass-delete", "apply deletes even above the job's deletes.max_share")
    .option("--no-deliver", "stop after writing the outbox; `ferry deliver` or `ferry serve` sends it")
    .option("--wait <duration>", "give up on a destination unavailable for this long (exit 4; 5 if it refuses the credentials)", DEFAULT_WAIT)
    .option("--wait-for-run", "if the job is running in another process, wait for that run to end (default: exit 6)")
    .action((name: string, opts: RunCommandOptions) => runCommand(globals(), name, opts));
}

/**
 * The run and its delivery hold the job's run lease: a second `ferry run` of the job, here or on another
 * host sharing the state store, is refused (exit 6) or waits (--wait). SIGINT and SIGTERM stop the run
 * after its batch in flight; the lease is released however the command ends.
 */
async function runCommand(g: GlobalOptions, name: string, opts: RunCommandOptions) {
  const waitMs = waitOf(opts.wait);
  const ctx = await openContext(g, (project) => jobSystems(project, getJob(project, name), { deliver: opts.deliver }));
  const controller = new AbortController();
  const stop = () => controller.abort(new Error("interrupted"));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    const job = getJob(ctx.project, name);
    const leaseOptions = {
      log: ctx.log,
      wait: opts.waitForRun,
      signal: controller.signal,
      expiryMs: leaseExpiryMs(ctx.project),
      onWait: (lease: Lease) =>
        process.stderr.write(`ferry: job ${name} is running in ${heldBy(lease)} since ${lease.acquired_at}; waiting for it to end…\n`),
    };
    await withRunLease(ctx.store, job.name, leaseOptions, (lease) =>
      runAndDeliver(ctx, g, job, opts, { signal: AbortSignal.any([controller.signal, lease.signal]), waitMs }),
    );
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await ctx.close();
  }
}

async function runAndDeliver(
  ctx: CommandContext,
  g: GlobalOptions,
  job: LoadedJob,
  opts: RunCommandOptions,
  { signal, waitMs }: { signal: AbortSignal; waitMs: number },
) {
  const progress = new Progress();
  const result = await runJob(ctx.project, job, ctx.store, {
    log: ctx.log,
    signal,
    allowMassDelete: opts.allowMassDelete,
    onProgress: (c) =>
      progress.update(`${job.name}: read ${c.read}, changed ${c.changed}, rejected ${c.rejected}`),
  });
  progress.done();
  let tallies = new Map<string, DeliveryTally>();
  // Each file of a file source is a run of its own: those applied are delivered even when another failed.
  if (opts.deliver && applied(result)) {
    tallies = await deliverJob(ctx, job, { signal, waitMs }, progress);
    progress.done();
  }
  if (g.json) {
    printJson({
      ...result,
      error: result.error ? String(result.error.message) : undefined,
      errorCode: errorCode(result.error),
      files: result.files?.map((f) => ({ ...f, error: f.error?.message, errorCode: errorCode(f.error) })),
      delivery: Object.fromEntries(tallies),
    });
  } else {
    printRun(result, tallies);
  }
  reportStops(tallies, g.json ?? false);
  const files = result.files?.map((f) => ({ status: f.status, error: f.error }));
  process.exitCode = exitCodeOf({ status: result.status, error: result.error, delivery: tallies.values(), ...(files ? { files } : {}) });
}

/** What the run queued, sent to the job's destinations (those its mapping names, as the job narrows them). */
function deliverJob(ctx: CommandContext, job: LoadedJob, how: { signal: AbortSignal; waitMs: number }, progress: Progress) {
  return deliverAll(
    ctx.project,
    ctx.store,
    createDestinations(ctx.project, ctx.log, jobDestinations(ctx.project, job)),
    {
      log: ctx.log,
      signal: how.signal,
      waitForRetriesMs: how.waitMs,
      onProgress: (d, t) =>
        progress.update(`${d}: delivered ${t.delivered}, retried ${t.retried}, dead ${t.dead}`),
    },
  );
}

function printRun(result: RunResult, tallies: Map<string, DeliveryTally>) {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (result.files && result.files.length > 0) {
    for (const f of result.files) printFile(result.job, f, out);
    if (result.files.length > 1) out(filesLine(result.files));
    // What stopped the run between files (a folder gone, a server down) belongs to no file.
    if (result.error && !result.files.some((f) => f.error === result.error)) out(`error: ${errorLine(result.error)}`);
  } else if (result.files) {
    out(`${result.job}: ${result.error ? "failed before taking a file" : "no file waiting"}`);
    if (result.error) out(`  error: ${errorLine(result.error)}`);
  } else {
    out(summarize(result));
    if (result.error) out(`  error: ${errorLine(result.error)}`);
    printRejects(result.rejects, result.counts.rejected, result.runId, out);
  }
  for (const [d, t] of tallies) process.stdout.write(deliveryLine(d, t));
}

/** A file of a file source's run: its own run's line (a duplicate has none), where it went, why, its rejects. */
function printFile(job: string, f: FileRunResult, out: (line: string) => void) {
  if (f.status) out(summarize({ runId: f.runId, job, status: f.status, counts: f.counts }));
  const run = f.runId ? ` (run ${f.runId})` : "";
  out(
    f.outcome === "returned"
      ? `  file ${f.name}: returned${run}, nothing of it applied -> ${f.movedTo}`
      : `  file ${f.name}: ${f.outcome}${run}, ${f.report.read} lines: accepted ${f.report.accepted}, rejected ${f.report.rejected} -> ${f.movedTo} (+ .report.csv)`,
  );
  if (f.error) out(`  error: ${errorLine(f.error)}`);
  else if (f.reason) out(`    ${f.reason}`);
  printRejects(f.rejects ?? [], f.counts.rejected, f.runId, out);
}

function printRejects(rejects: RejectRow[], count: number, runId: number | null, out: (line: string) => void) {
  for (const r of rejects.slice(0, SAMPLE)) out(`  rejected line ${r.line}${r.key ? ` (key ${r.key})` : ""}: ${r.reason}`);
  if (count > SAMPLE) out(`  … ${count - SAMPLE} more: ferry runs ${runId}`);
}

/** The files of a run, counted by outcome: `3 files: 2 applied, 1 failed`. */
function filesLine(files: FileRunResult[]): string {
  const order: FileRunResult["outcome"][] = ["applied", "partial", "duplicate", "returned", "failed"];
  const counted = order
    .map((o) => [o, files.filter((f) => f.outcome === o).length] as const)
    .filter(([, n]) => n > 0)
    .map(([o, n]) => `${n} ${o}`);
  return `${files.length} files: ${counted.join(", ")}`;
}
