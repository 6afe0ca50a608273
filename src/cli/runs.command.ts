/** `ferry runs`: recent runs with their accounting, or one run with its rejected rows. */
import type { Command } from "commander";
import { ExitCode } from "../errors.ts";
import { stateSize } from "../operate/prune.ts";
import { deadLetterCounts } from "../state/dead-letters.repo.ts";
import { listFiles } from "../state/files.repo.ts";
import { outboxCounts } from "../state/outbox.repo.ts";
import { listRejects } from "../state/run-rejects.repo.ts";
import { COUNTERS, getRun, listRuns } from "../state/runs.repo.ts";
import { type CommandContext, type GlobalOptions, openContext } from "./context.ts";
import { printJson, printTable } from "./output.ts";

interface RunsOptions {
  job?: string;
  limit: string;
  stats?: boolean;
}

export function registerRunsCommand(program: Command, globals: () => GlobalOptions) {
  program
    .command("runs [id]")
    .description("recent runs with their accounting; with an id, one run and its rejected rows")
    .option("--job <name>", "only this job")
    .option("--limit <n>", "how many runs", "20")
    .option("--stats", "the state store's size, and the rows of each table")
    .action((id: string | undefined, opts: RunsOptions) => runsCommand(globals(), id, opts));
}

async function runsCommand(g: GlobalOptions, id: string | undefined, opts: RunsOptions) {
  const ctx = await openContext(g);
  try {
    if (opts.stats) await showStats(g, ctx);
    else if (id) await showRun(g, ctx, id);
    else await listRecentRuns(g, ctx, opts);
  } finally {
    await ctx.close();
  }
}

async function showRun(g: GlobalOptions, ctx: CommandContext, id: string) {
  const run = await getRun(ctx.store.knex, Number(id));
  if (!run) {
    process.stderr.write(`ferry: no run ${id}\n`);
    process.exitCode = ExitCode.config;
    return;
  }
  const rejects = await listRejects(ctx.store.knex, run.id);
  const file = (await ctx.store.knex("files").where({ run_id: run.id }).first("name", "outcome", "hash")) as
    | { name: string; outcome: string; hash: string }
    | undefined;
  if (g.json) printJson({ run, rejects, ...(file ? { file } : {}) });
  else {
    printTable([run as unknown as Record<string, unknown>]);
    if (file) process.stdout.write(`\nfile: ${file.name} (${file.outcome}, sha256 ${file.hash.slice(0, 12)}…)\n`);
    process.stdout.write("\nrejected rows:\n");
    printTable(rejects as unknown as Record<string, unknown>[]);
  }
}

/** The state store's size and each table's rows: what `retention:` and `ferry prune` keep in bounds. */
async function showStats(g: GlobalOptions, ctx: CommandContext) {
  const bytes = await stateSize(ctx.store);
  const tables = ["runs", "run_logs", "run_rejects", "golden", "snapshots", "outbox", "dead_letters", "conflicts", "audit_log", "files"];
  const rows = [];
  for (const table of tables) {
    const [r] = (await ctx.store.knex(table).count({ n: "*" })) as { n: string | number }[];
    rows.push({ table, rows: Number(r!.n) });
  }
  if (g.json) printJson({ state: ctx.store.describe, bytes, tables: rows });
  else {
    process.stdout.write(`state store: ${ctx.store.describe}, ${(bytes / 1_048_576).toFixed(1)} MiB\n`);
    printTable(rows);
  }
}

async function listRecentRuns(g: GlobalOptions, ctx: CommandContext, opts: RunsOptions) {
  const runs = await listRuns(ctx.store.knex, { job: opts.job, limit: Number(opts.limit) });
  const outbox = await outboxCounts(ctx.store.knex);
  const files = await listFiles(ctx.store.knex, opts.job, Number(opts.limit));
  const dlq = await deadLetterCounts(ctx.store.knex);
  if (g.json) printJson({ runs, outbox, dead_letters: dlq, files });
  else {
    printTable(runs as unknown as Record<string, unknown>[], ["id", "job", "mode", "status", "started_at", ...COUNTERS, "error"]);
    process.stdout.write("\noutbox by destination:\n");
    printTable(outbox);
    if (dlq.length > 0) {
      process.stdout.write("\ndead-letter queue, open entries (`ferry dlq list`):\n");
      printTable(dlq);
    }
    if (files.length > 0) {
      process.stdout.write("\nfiles taken (folder and sftp jobs):\n");
      printTable(files as unknown as Record<string, unknown>[], ["processedAt", "job", "name", "outcome", "runId", "reason"]);
    }
  }
}
