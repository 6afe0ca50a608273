/** `ferry deliver`: send what is waiting in the outbox, now. */
import type { Command } from "commander";
import { destinationSystems } from "../config/systems.ts";
import { DEFAULT_WAIT, deliverAll } from "../delivery/deliver.ts";
import { exitCodeOf } from "../errors.ts";
import { createDestinations, type GlobalOptions, openContext, waitOf } from "./context.ts";
import { printJson, printTable, reportStops } from "./output.ts";

interface DeliverCommandOptions {
  destination?: string;
  wait: string;
}

export function registerDeliverCommand(program: Command, globals: () => GlobalOptions) {
  program
    .command("deliver")
    .description("send what is waiting in the outbox, now")
    .option("--destination <name>", "only this destination")
    .option("--wait <duration>", "give up on a destination unavailable for this long (exit 4; 5 if it refuses the credentials)", DEFAULT_WAIT)
    .action((opts: DeliverCommandOptions) => deliverCommand(globals(), opts));
}

async function deliverCommand(g: GlobalOptions, opts: DeliverCommandOptions) {
  const waitMs = waitOf(opts.wait);
  const only = opts.destination ? [opts.destination] : undefined;
  const ctx = await openContext(g, (project) => destinationSystems(project.systems, only));
  try {
    const tallies = await deliverAll(
      ctx.project,
      ctx.store,
      createDestinations(ctx.project, ctx.log, only),
      { log: ctx.log, waitForRetriesMs: waitMs },
    );
    if (g.json) printJson(Object.fromEntries(tallies));
    else printTable([...tallies].map(([destination, t]) => ({ destination, ...t })));
    reportStops(tallies, g.json ?? false);
    process.exitCode = exitCodeOf({ delivery: tallies.values() });
  } finally {
    await ctx.close();
  }
}
