/** `ferry workers`: the workers on this state store, their heartbeats, and what each holds. */
import type { Command } from "commander";
import { listWorkers } from "../cluster/workers.ts";
import { type GlobalOptions, openContext } from "./context.ts";
import { printJson, printTable } from "./output.ts";

export function registerWorkersCommand(program: Command, globals: () => GlobalOptions) {
  program
    .command("workers")
    .description("the workers on this state store (ferry serve), their heartbeats, and the runs and deliveries each holds")
    .action(async () => {
      const g = globals();
      const ctx = await openContext(g);
      try {
        const report = await listWorkers(ctx.store, ctx.project.config.state);
        if (g.json) {
          printJson(report);
          return;
        }
        const rows = report.workers.map((w) => ({ ...w, holds: w.holds.join(", ") || "-" }));
        printTable(rows, ["worker", "state", "host", "pid", "started_at", "heartbeat_at", "holds"]);
        if (report.note) process.stdout.write(`\n${report.note}\n`);
      } finally {
        await ctx.close();
      }
    });
}
