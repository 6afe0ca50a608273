/** `ferry run`, `ferry plan`, `ferry deliver`: move data. */
import type { Command } from "commander";
import { getJob } from "../config/load.ts";
import { type DeliveryTally, deliverAll } from "../delivery/deliver.ts";
import { ExitCode, exitCodeOf, FerryError } from "../errors.ts";
import type { PlannedEvent } from "../runner/batch-context.ts";
import { type RunResult, runJob } from "../runner/run-job.ts";
import { createDestinations, type GlobalOptions, openContext } from "./context.ts";
import { deliveryLine, Progress, printJson, printTable } from "./output.ts";

const SAMPLE = 20;

/** A run's error as printed: its message and, for scripts to match on, its stable code. */
const errorLine = (error: Error) =>
  error instanceof FerryError ? `${error.message} [${error.code}]` : error.message;
const errorCode = (error: Error | undefined) => (error instanceof FerryError ? error.code : undefined);

function summarize(result: RunResult): string {
  const c = result.counts;
  return `run ${result.runId ?? "(dry)"} of ${result.job}: ${result.status}. read ${c.read} = unchanged ${c.unchanged} + changed ${c.changed} + rejected ${c.rejected} + filtered ${c.filtered}; deleted ${c.deleted}, conflicts opened ${c.conflicts}, outbox rows ${c.outbox}`;
}

export function registerSyncCommands(program: Command, globals: () => GlobalOptions) {
  program
    .command("run <job>")
    .description("run a job now: read, merge, and deliver what changed")
    .option("--allow-mass-delete", "apply deletes even above the job's deletes.max_share")
    .option("--no-deliver", "stop after writing the outbox; `ferry deliver` or `ferry serve` sends it")
    .action(async (name: string, opts: { allowMassDelete?: boolean; deliver: boolean }) => {
      const g = globals();
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
          const mapping = ctx.project.mappings.get(job.config.mapping)!.config;
          const names = Object.keys(mapping.destinations).filter(
            (d) => !job.config.destinations || job.config.destinations.includes(d),
          );
          tallies = await deliverAll(
            ctx.project,
            ctx.store,
            createDestinations(ctx.project, ctx.log, names),
            {
              log: ctx.log,
              signal: controller.signal,
              waitForRetriesMs: 120_000,
              onProgress: (d, t) =>
                progress.update(`${d}: delivered ${t.delivered}, retried ${t.retried}, dead ${t.dead}`),
            },
          );
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
        process.exitCode = exitCodeOf({ status: result.status, error: result.error, delivery: tallies.values() });
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        await ctx.close();
      }
    });

  program
    .command("plan <job>")
    .description(
      "dry run: print the creates, updates, deletes, conflicts and rejects a run would make; writes nothing",
    )
    .option("--allow-mass-delete", "plan as if deletes above the limit were allowed")
    .action(async (name: string, opts: { allowMassDelete?: boolean }) => {
      const g = globals();
      const ctx = await openContext(g);
      try {
        const events: Record<PlannedEvent["kind"], PlannedEvent[]> = {
          create: [],
          update: [],
          delete: [],
          conflict: [],
          reject: [],
        };
        const totals: Record<PlannedEvent["kind"], number> = {
          create: 0,
          update: 0,
          delete: 0,
          conflict: 0,
          reject: 0,
        };
        const result = await runJob(ctx.project, getJob(ctx.project, name), ctx.store, {
          log: ctx.log,
          dryRun: true,
          allowMassDelete: opts.allowMassDelete,
          onPlanned: (e) => {
            totals[e.kind]++;
            if (events[e.kind].length < SAMPLE) events[e.kind].push(e);
          },
        });
        if (g.json) {
          printJson({
            job: name,
            status: result.status,
            counts: result.counts,
            totals,
            samples: events,
            error: result.error?.message,
            errorCode: errorCode(result.error),
          });
        } else {
          process.stdout.write(`plan for ${name} (nothing written): ${result.status}\n`);
          if (result.error) process.stdout.write(`  error: ${errorLine(result.error)}\n`);
          for (const kind of ["create", "update", "delete", "conflict", "reject"] as const) {
            process.stdout.write(`${kind}s: ${totals[kind]}\n`);
            for (const e of events[kind]) {
              const text =
                e.kind === "reject"
                  ? `line ${e.line}${e.key ? ` key ${e.key}` : ""}: ${e.reason}`
                  : e.kind === "conflict"
                    ? `${e.key} ${e.field}`
                    : e.kind === "delete"
                      ? e.key
                      : `${e.key} (${e.fields.join(", ")})`;
              process.stdout.write(`  ${text}\n`);
            }
          }
        }
        // A plan's rejects are a preview: it exits 0 unless the run it plays could not finish.
        process.exitCode = result.status === "partial" ? ExitCode.ok : exitCodeOf({ status: result.status, error: result.error });
      } finally {
        await ctx.close();
      }
    });

  program
    .command("deliver")
    .description("send what is waiting in the outbox, now")
    .option("--destination <name>", "only this destination")
    .action(async (opts: { destination?: string }) => {
      const g = globals();
      const ctx = await openContext(g);
      try {
        const tallies = await deliverAll(
          ctx.project,
          ctx.store,
          createDestinations(ctx.project, ctx.log, opts.destination ? [opts.destination] : undefined),
          {
            log: ctx.log,
            waitForRetriesMs: 120_000,
          },
        );
        if (g.json) printJson(Object.fromEntries(tallies));
        else printTable([...tallies].map(([destination, t]) => ({ destination, ...t })));
        process.exitCode = exitCodeOf({ delivery: tallies.values() });
      } finally {
        await ctx.close();
      }
    });
}
