/** `ferry dlq list|show|replay|discard`: the dead-letter queue, for operators. */
import type { Command } from "commander";
import { destinationSystems, requireSystems } from "../config/systems.ts";
import { DEFAULT_WAIT, type DeliveryTally, deliverAll } from "../delivery/deliver.ts";
import { ConfigError, ExitCode, exitCodeOf } from "../errors.ts";
import { discardDeadLetters, replayDeadLetters, type Selection } from "../operate/dead-letters.ts";
import { getDeadLetter, listDeadLetters } from "../state/dead-letters.repo.ts";
import { type CommandContext, createDestinations, type GlobalOptions, openContext, waitOf } from "./context.ts";
import { deliveryLine, printJson, printTable, reportStops } from "./output.ts";

const ids = (values: string[]) =>
  values.map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError("DLQ_BAD_ID", `not an entry id: ${v} (ids are the numbers \`ferry dlq list\` shows)`);
    return n;
  });

const selection = (values: string[], destination: string | undefined): Selection => ({
  ids: ids(values),
  ...(destination ? { destination } : {}),
});

interface ListOptions {
  destination?: string;
  all?: boolean;
}

interface ReplayOptions {
  destination?: string;
  by: string;
  deliver: boolean;
  wait: string;
}

interface DiscardOptions {
  destination?: string;
  by: string;
}

export function registerDlqCommand(program: Command, globals: () => GlobalOptions) {
  const dlq = program.command("dlq").description("the dead-letter queue: records a destination refused, or that kept failing");

  dlq
    .command("list")
    .description("open entries (with --all, replayed, discarded and superseded ones too)")
    .option("--destination <name>", "only this destination")
    .option("--all", "include resolved entries")
    .action((opts: ListOptions) => listCommand(globals(), opts));

  dlq
    .command("show <id>")
    .description("one entry in full: the request sent, the answer, the reason")
    .action((id: string) => showCommand(globals(), id));

  dlq
    .command("replay [ids...]")
    .description("send entries again, once the cause is fixed (by id, or --destination for all of one); audited")
    .option("--destination <name>", "every open entry of this destination")
    .option("--by <name>", "who decides, for the audit log", process.env.USER ?? "operator")
    .option("--no-deliver", "only queue them again; `ferry deliver` or `ferry serve` sends them")
    .option("--wait <duration>", "give up on a destination unavailable for this long (exit 4; 5 if it refuses the credentials)", DEFAULT_WAIT)
    .action((values: string[], opts: ReplayOptions) => replayCommand(globals(), values, opts));

  dlq
    .command("discard [ids...]")
    .description("close entries without sending them (by id, or --destination for all of one); audited")
    .option("--destination <name>", "every open entry of this destination")
    .option("--by <name>", "who decides, for the audit log", process.env.USER ?? "operator")
    .action((values: string[], opts: DiscardOptions) => discardCommand(globals(), values, opts));
}

async function listCommand(g: GlobalOptions, opts: ListOptions) {
  const ctx = await openContext(g);
  try {
    const rows = await listDeadLetters(ctx.store.knex, { destination: opts.destination, all: opts.all });
    if (g.json) printJson(rows);
    else {
      printTable(
        rows.map((e) => ({
          id: e.id,
          destination: e.destination,
          entity: e.entity,
          key: e.key,
          code: e.code,
          attempts: e.attempts,
          dead_at: e.dead_at,
          ...(opts.all ? { resolution: e.resolution ?? "open" } : {}),
          reason: e.reason,
        })),
      );
    }
  } finally {
    await ctx.close();
  }
}

async function showCommand(g: GlobalOptions, id: string) {
  const ctx = await openContext(g);
  try {
    const entry = await getDeadLetter(ctx.store.knex, ids([id])[0]!);
    if (!entry) {
      process.stderr.write(`ferry: no dead-letter entry ${id}\n`);
      process.exitCode = ExitCode.config;
      return;
    }
    if (g.json) printJson(entry);
    else {
      const { request, response, ...head } = entry;
      for (const [k, v] of Object.entries(head)) process.stdout.write(`${k.padEnd(12)} ${v ?? ""}\n`);
      process.stdout.write(`\nrequest:\n${JSON.stringify(request, null, 2)}\n\nresponse:\n${JSON.stringify(response, null, 2)}\n`);
    }
  } finally {
    await ctx.close();
  }
}

async function replayCommand(g: GlobalOptions, values: string[], opts: ReplayOptions) {
  const waitMs = waitOf(opts.wait);
  const ctx = await openContext(g);
  try {
    // Delivering talks to the entries' destinations: a reference of theirs that cannot resolve stops the replay first.
    if (opts.deliver) requireSystems(ctx.project, destinationSystems(ctx.project.systems, await replayedTo(ctx, values, opts.destination)));
    const entries = await replayDeadLetters(ctx.store, selection(values, opts.destination), opts.by);
    const destinations = [...new Set(entries.map((e) => e.destination))];
    let tallies = new Map<string, DeliveryTally>();
    if (opts.deliver && destinations.length > 0) {
      tallies = await deliverAll(ctx.project, ctx.store, createDestinations(ctx.project, ctx.log, destinations), {
        log: ctx.log,
        waitForRetriesMs: waitMs,
      });
    }
    // Entries that failed again are open once more, under new ids.
    const again = (await listDeadLetters(ctx.store.knex, {})).filter((e) => entries.some((r) => r.outbox_id === e.outbox_id));
    if (g.json) printJson({ replayed: entries.map((e) => e.id), delivery: Object.fromEntries(tallies), failed_again: again });
    else {
      process.stdout.write(`replayed ${entries.length} entr${entries.length === 1 ? "y" : "ies"}\n`);
      for (const [d, t] of tallies) {
        process.stdout.write(deliveryLine(d, t));
      }
      if (again.length > 0) {
        process.stdout.write("failed again:\n");
        printTable(again.map((e) => ({ id: e.id, key: e.key, code: e.code, reason: e.reason })));
      }
    }
    reportStops(tallies, g.json ?? false);
    // A destination left unavailable (4) or refusing its credentials (5) says more than entries failing again.
    const delivery = exitCodeOf({ delivery: tallies.values() });
    process.exitCode = delivery > ExitCode.partial ? delivery : again.length > 0 ? ExitCode.partial : ExitCode.ok;
  } finally {
    await ctx.close();
  }
}

/** The destinations a replay delivers to: the one named by --destination, else those of the entries named by id. */
async function replayedTo(ctx: CommandContext, values: string[], destination: string | undefined): Promise<string[]> {
  if (destination) return [destination];
  const entries = await Promise.all(ids(values).map((id) => getDeadLetter(ctx.store.knex, id)));
  return [...new Set(entries.flatMap((e) => (e ? [e.destination] : [])))];
}

async function discardCommand(g: GlobalOptions, values: string[], opts: DiscardOptions) {
  const ctx = await openContext(g);
  try {
    const entries = await discardDeadLetters(ctx.store, selection(values, opts.destination), opts.by);
    if (g.json) printJson({ discarded: entries.map((e) => e.id) });
    else process.stdout.write(`discarded ${entries.length} entr${entries.length === 1 ? "y" : "ies"}\n`);
  } finally {
    await ctx.close();
  }
}
