/** `ferry conflicts list|resolve`: the conflicts survivorship rules could not settle, for people to settle. */
import type { Command } from "commander";
import { ExitCode } from "../errors.ts";
import { resolveConflict } from "../operate/resolve.ts";
import { listConflicts } from "../state/conflicts.repo.ts";
import { type GlobalOptions, openContext } from "./context.ts";
import { printJson, printTable, showValue } from "./output.ts";

interface ListOptions {
  all?: boolean;
  entity?: string;
}

interface ResolveOptions {
  use?: string;
  value?: string;
  by: string;
}

export function registerConflictsCommand(program: Command, globals: () => GlobalOptions) {
  const conflicts = program
    .command("conflicts")
    .description("conflicts that survivorship rules could not settle");
  conflicts
    .command("list")
    .description("open conflicts (with --all, resolved and closed ones too)")
    .option("--all", "include resolved and closed conflicts")
    .option("--entity <entity>", "only this entity")
    .action((opts: ListOptions) => listCommand(globals(), opts));
  conflicts
    .command("resolve <id>")
    .description(
      "settle a conflict with one source's value (--use) or a value of your own (--value); audited",
    )
    .option("--use <source>", "take this source's value")
    .option("--value <value>", "enter a value")
    .option("--by <name>", "who decides, for the audit log", process.env.USER ?? "operator")
    .action((id: string, opts: ResolveOptions) => resolveCommand(globals(), id, opts));
}

async function listCommand(g: GlobalOptions, opts: ListOptions) {
  const ctx = await openContext(g);
  try {
    const rows = await listConflicts(ctx.store.knex, {
      status: opts.all ? undefined : "open",
      entity: opts.entity,
    });
    if (g.json) printJson(rows);
    else {
      printTable(
        rows.map((c) => ({
          id: c.id,
          status: c.status,
          entity: c.entity,
          key: c.key,
          field: c.field,
          current: `${showValue(c.current.value)} (${c.current.source})`,
          competing: c.candidates.map((x) => `${showValue(x.value)} (${x.source})`).join("; "),
          opened: c.opened_at,
        })),
      );
    }
  } finally {
    await ctx.close();
  }
}

async function resolveCommand(g: GlobalOptions, id: string, opts: ResolveOptions) {
  if ((opts.use === undefined) === (opts.value === undefined)) {
    process.stderr.write("ferry: give exactly one of --use <source> or --value <value>\n");
    process.exitCode = ExitCode.config;
    return;
  }
  const ctx = await openContext(g);
  try {
    const decision = opts.use !== undefined ? { use: opts.use } : { value: opts.value! };
    const r = await resolveConflict(ctx.project, ctx.store, Number(id), decision, opts.by);
    if (g.json) printJson(r);
    else
      process.stdout.write(
        `conflict #${r.id} resolved: ${r.entity} ${r.key} ${r.field} ${showValue(r.before)} -> ${showValue(r.after)} (${r.source}); ${r.outbox} outbox row(s) queued\n`,
      );
  } finally {
    await ctx.close();
  }
}
