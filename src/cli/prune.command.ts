/** `ferry prune`: deletes history older than ferry.yaml's `retention:` (runs, rejects, delivered outbox rows, audit). */
import type { Command } from "commander";
import { prune } from "../operate/prune.ts";
import { type GlobalOptions, openContext } from "./context.ts";
import { printJson, printTable } from "./output.ts";

export function registerPruneCommand(program: Command, globals: () => GlobalOptions) {
  program
    .command("prune")
    .description("delete history older than ferry.yaml's retention: runs, their log lines and rejects, delivered outbox rows, resolved dead letters, audit")
    .option("--dry-run", "count what would go, delete nothing")
    .action(async (opts: { dryRun?: boolean }) => {
      const g = globals();
      const ctx = await openContext(g);
      try {
        const counts = await prune(ctx.project, ctx.store, new Date(), { dryRun: opts.dryRun === true });
        if (g.json) printJson({ dryRun: opts.dryRun === true, deleted: counts });
        else {
          process.stdout.write(opts.dryRun ? "would delete (nothing deleted):\n" : "deleted:\n");
          printTable(Object.entries(counts).map(([table, rows]) => ({ table, rows })));
        }
      } finally {
        await ctx.close();
      }
    });
}
