/** `ferry explain`: why a record holds what it holds, field by field, and what was pushed where. */
import type { Command } from "commander";
import { ExitCode } from "../errors.ts";
import { explain } from "../operate/explain.ts";
import { type GlobalOptions, openContext } from "./context.ts";
import { printJson, printTable, showValue } from "./output.ts";

type Explanation = NonNullable<Awaited<ReturnType<typeof explain>>>;

export function registerExplainCommand(program: Command, globals: () => GlobalOptions) {
  program
    .command("explain <entity> <key> [field]")
    .description("why a record holds what it holds: value, source, rule, run, and what was pushed where")
    .action((entity: string, key: string, field: string | undefined) =>
      explainCommand(globals(), entity, key, field),
    );
}

async function explainCommand(g: GlobalOptions, entity: string, key: string, field: string | undefined) {
  const ctx = await openContext(g);
  try {
    const e = await explain(ctx.store, entity, key, field);
    if (!e) {
      process.stderr.write(`ferry: no ${entity} with key ${key}\n`);
      process.exitCode = ExitCode.config;
      return;
    }
    if (g.json) {
      printJson(e);
      return;
    }
    printExplanation(entity, key, e);
  } finally {
    await ctx.close();
  }
}

function printExplanation(entity: string, key: string, e: Explanation) {
  process.stdout.write(`${entity} ${key}: version ${e.version}, ${e.status}\n\nfields:\n`);
  printTable(
    Object.entries(e.fields).map(([name, f]) => ({
      field: name,
      value: showValue(f?.value),
      source: f?.source,
      rule: f?.rule,
      run: f?.run,
      observed: f?.at,
      conflict: f?.conflicted ? "open" : "",
    })),
  );
  process.stdout.write("\nwhat each source says:\n");
  printTable(
    e.sources.map((s) => ({ source: s.source, run: s.run, observed: s.observedAt, values: s.values })),
  );
  process.stdout.write("\npushed:\n");
  printTable(
    e.destinations.map((d) => ({
      destination: d.destination,
      id: d.remoteId,
      version: d.version,
      at: d.pushedAt,
      values: d.pushed,
    })),
  );
  if (e.conflicts.length > 0) {
    process.stdout.write("\nconflicts:\n");
    printTable(
      e.conflicts.map((c) => ({ id: c.id, field: c.field, status: c.status, competing: c.candidates })),
    );
  }
  const waiting = e.outbox.filter((o) => o.status !== "delivered" && o.status !== "superseded");
  if (waiting.length > 0) {
    process.stdout.write("\nnot delivered:\n");
    printTable(waiting);
  }
}
