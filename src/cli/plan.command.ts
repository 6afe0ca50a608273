/** `ferry plan`: a dry run that prints what a run would do, and writes nothing. */
import type { Command } from "commander";
import { getJob } from "../config/load.ts";
import { ExitCode, exitCodeOf } from "../errors.ts";
import { jobSystems } from "../project.ts";
import type { PlannedEvent } from "../runner/batch-context.ts";
import { type RunResult, runJob } from "../runner/run-job.ts";
import { type GlobalOptions, openContext } from "./context.ts";
import { errorCode, errorLine, printJson, SAMPLE } from "./output.ts";

type Kind = PlannedEvent["kind"];

export function registerPlanCommand(program: Command, globals: () => GlobalOptions) {
  program
    .command("plan <job>")
    .description(
      "dry run: print the creates, updates, deletes, conflicts and rejects a run would make; writes nothing",
    )
    .option("--allow-mass-delete", "plan as if deletes above the limit were allowed")
    .action((name: string, opts: { allowMassDelete?: boolean }) => planCommand(globals(), name, opts));
}

async function planCommand(g: GlobalOptions, name: string, opts: { allowMassDelete?: boolean }) {
  const ctx = await openContext(g, (project) => jobSystems(project, getJob(project, name), { deliver: false }));
  try {
    const { events, totals, onPlanned } = collectPlanned();
    const result = await runJob(ctx.project, getJob(ctx.project, name), ctx.store, {
      log: ctx.log,
      dryRun: true,
      allowMassDelete: opts.allowMassDelete,
      onPlanned,
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
      printPlan(name, result, totals, events);
    }
    // A plan's rejects are a preview: it exits 0 unless the run it plays could not finish.
    process.exitCode = result.status === "partial" ? ExitCode.ok : exitCodeOf({ status: result.status, error: result.error });
  } finally {
    await ctx.close();
  }
}

/** Counts every planned event by kind, and keeps the first few of each as samples. */
function collectPlanned() {
  const events: Record<Kind, PlannedEvent[]> = {
    create: [],
    update: [],
    delete: [],
    conflict: [],
    reject: [],
  };
  const totals: Record<Kind, number> = {
    create: 0,
    update: 0,
    delete: 0,
    conflict: 0,
    reject: 0,
  };
  const onPlanned = (e: PlannedEvent) => {
    totals[e.kind]++;
    if (events[e.kind].length < SAMPLE) events[e.kind].push(e);
  };
  return { events, totals, onPlanned };
}

function printPlan(
  name: string,
  result: RunResult,
  totals: Record<Kind, number>,
  events: Record<Kind, PlannedEvent[]>,
) {
  process.stdout.write(`plan for ${name} (nothing written): ${result.status}\n`);
  if (result.error) process.stdout.write(`  error: ${errorLine(result.error)}\n`);
  for (const kind of ["create", "update", "delete", "conflict", "reject"] as const) {
    process.stdout.write(`${kind}s: ${totals[kind]}\n`);
    for (const e of events[kind]) {
      process.stdout.write(`  ${plannedLine(e)}\n`);
    }
  }
}

function plannedLine(e: PlannedEvent): string {
  return e.kind === "reject"
    ? `line ${e.line}${e.key ? ` key ${e.key}` : ""}: ${e.reason}`
    : e.kind === "conflict"
      ? `${e.key} ${e.field}`
      : e.kind === "delete"
        ? e.key
        : `${e.key} (${e.fields.join(", ")})`;
}
