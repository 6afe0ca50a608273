/** `ferry run`: read a job's source, merge, and deliver what changed, now. */
import type { Command } from "commander";
import { getJob, type LoadedJob } from "../config/load.ts";
import { DEFAULT_WAIT, type DeliveryTally, deliverAll } from "../delivery/deliver.ts";
import { exitCodeOf } from "../errors.ts";
import { type RunResult, runJob } from "../runner/run-job.ts";
import { type CommandContext, createDestinations, type GlobalOptions, openContext, waitOf } from "./context.ts";
import { deliveryLine, errorCode, errorLine, Progress, printJson, reportStops, SAMPLE } from "./output.ts";

function summarize(result: RunResult): string {
  const c = result.counts;
  return `run ${result.runId ?? "(dry)"} of ${result.job}: ${result.status}. read ${c.read} = unchanged ${c.unchanged} + changed ${c.changed} + rejected ${c.rejected} + filtered ${c.filtered}; deleted ${c.deleted}, conflicts opened ${c.conflicts}, outbox rows ${c.outbox}`;
}

interface RunCommandOptions {
  allowMassDelete?: boolean;
  deliver: boolean;
  wait: string;
}

export function registerRunCommand(program: Command, globals: () => GlobalOptions) {
  program
    .command("run <job>")
    .description("run a job now: read, merge, and deliver what changed")
    .option("--allow-mass-delete", "apply deletes even above the job's deletes.max_share")
    .option("--no-deliver", "stop after writing the outbox; `ferry deliver` or `ferry serve` sends it")
    .option("--wait <duration>", "give up on a destination unavailable for this long (exit 4; 5 if it refuses the credentials)", DEFAULT_WAIT)
    .action((name: string, opts: RunCommandOptions) => runCommand(globals(), name, opts));
}

async function runCommand(g: GlobalOptions, name: string, opts: RunCommandOptions) {
  const waitMs = waitOf(opts.wait);
  const ctx = await openContext(g);
  const controller = new AbortController();
  const stop = () => controller.abort(new Error("interrupted"));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    const job = getJob(ctx.project, name);
    const progress = new Progress();
    const result = await runJob(ctx.project, job, ctx.store, {
      log: ctx.log,
      signal: controller.signal,
      allowMassDelete: opts.allowMassDelete,
      onProgress: (c) =>
        progress.update(`${name}: read ${c.read}, changed ${c.changed}, rejected ${c.rejected}`),
    });
    progress.done();
    let tallies = new Map<string, DeliveryTally>();
    if (opts.deliver && result.status !== "failed" && result.status !== "refused") {
      tallies = await deliverJob(ctx, job, { signal: controller.signal, waitMs }, progress);
      progress.done();
    }
    if (g.json) {
      printJson({
        ...result,
        error: result.error ? String(result.error.message) : undefined,
        errorCode: errorCode(result.error),
        delivery: Object.fromEntries(tallies),
      });
    } else {
      printRun(result, tallies);
    }
    reportStops(tallies, g.json ?? false);
    process.exitCode = exitCodeOf({ status: result.status, error: result.error, delivery: tallies.values() });
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await ctx.close();
  }
}

/** What the run queued, sent to the job's destinations (those its mapping names, as the job narrows them). */
function deliverJob(ctx: CommandContext, job: LoadedJob, how: { signal: AbortSignal; waitMs: number }, progress: Progress) {
  const mapping = ctx.project.mappings.get(job.config.mapping)!.config;
  const names = Object.keys(mapping.destinations).filter(
    (d) => !job.config.destinations || job.config.destinations.includes(d),
  );
  return deliverAll(
    ctx.project,
    ctx.store,
    createDestinations(ctx.project, ctx.log, names),
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
  process.stdout.write(`${summarize(result)}\n`);
  if (result.files?.length === 0) process.stdout.write("  no file waiting\n");
  for (const f of result.files ?? []) {
    process.stdout.write(
      `  file ${f.name}: ${f.outcome}${f.runId ? ` (run ${f.runId})` : ""}, ${f.report.read} lines: accepted ${f.report.accepted}, rejected ${f.report.rejected} -> ${f.movedTo} (+ .report.csv)${f.reason ? `\n    ${f.reason}` : ""}\n`,
    );
  }
  if (result.error) process.stdout.write(`  error: ${errorLine(result.error)}\n`);
  for (const r of result.rejects.slice(0, SAMPLE))
    process.stdout.write(`  rejected line ${r.line}${r.key ? ` (key ${r.key})` : ""}: ${r.reason}\n`);
  if (result.counts.rejected > SAMPLE)
    process.stdout.write(`  … ${result.counts.rejected - SAMPLE} more: ferry runs ${result.runId}\n`);
  for (const [d, t] of tallies) {
    process.stdout.write(deliveryLine(d, t));
  }
}
