/** `ferry serve`: the long-running service; with PostgreSQL state, one of several workers. */
import type { Command } from "commander";
import { setWorkerId, workerId } from "../cluster/worker.ts";
import { scheduleTimeZone } from "../config/schedule.ts";
import { allSystems } from "../config/systems.ts";
import { type Service, startService } from "../service/service.ts";
import { createDestinations, type GlobalOptions, openContext } from "./context.ts";

export function registerServeCommand(program: Command, globals: () => GlobalOptions) {
  program
    .command("serve")
    .description("run every scheduled job on its schedule and deliver continuously, until SIGTERM or SIGINT")
    .option("--worker-id <id>", "this worker's name in `ferry workers`, the leases and the logs (default <host>:<pid>)")
    .action(async (opts: { workerId?: string }) => {
      if (opts.workerId !== undefined) setWorkerId(opts.workerId);
      // The service talks to every source and destination of the project: each must resolve before it starts.
      const ctx = await openContext(globals(), (project) => allSystems(project.systems));
      const destinations = createDestinations(ctx.project, ctx.log);
      let service: Service;
      try {
        service = await startService({ project: ctx.project, store: ctx.store, destinations, log: ctx.log.child({ worker: workerId() }) });
      } catch (e) {
        // A service that cannot do its work does not stay up: close what was opened, and exit non-zero.
        for (const d of destinations.values()) await d.close().catch(() => {});
        await ctx.close();
        throw e;
      }
      const scheduled = [...ctx.project.jobs.values()]
        .filter((j) => j.config.schedule)
        .map((j) => `${j.name} (${j.config.schedule} ${scheduleTimeZone(j.config.timezone)})`);
      const how = service.mode === "cluster" ? `worker ${workerId()} of the cluster on ${ctx.store.describe}` : `one process on ${ctx.store.describe}`;
      process.stderr.write(
        `ferry serve: ${how}; ${scheduled.length} scheduled job(s): ${scheduled.join(", ") || "none"}. Stop with Ctrl-C or SIGTERM.\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.stderr.write(`ferry serve: ${signal} received, finishing the batch in flight…\n`);
          resolve();
        };
        process.once("SIGINT", () => stop("SIGINT"));
        process.once("SIGTERM", () => stop("SIGTERM"));
      });
      await service.stop();
      await ctx.close();
      process.stderr.write("ferry serve: stopped\n");
    });
}
