/** `ferry deliver`: send what is waiting in the outbox, now. */
import type { Command } from "commander";
import { deliverAll } from "../delivery/deliver.ts";
import { exitCodeOf } from "../errors.ts";
import { createDestinations, type GlobalOptions, openContext } from "./context.ts";
import { printJson, printTable } from "./output.ts";

export function registerDeliverCommand(program: Command, globals: () => GlobalOptions) {
  program
    .command("deliver")
    .description("send what is waiting in the outbox, now")
    .option("--destination <name>", "only this destination")
    .action((opts: { destination?: string }) => deliverCommand(globals(), opts));
}

async function deliverCommand(g: GlobalOptions, opts: { destination?: string }) {
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
}
