/** `ferry serve`: the long-running service and its console; with PostgreSQL state, one of several workers. */
import type { Command } from "commander";
import { setWorkerId, workerId } from "../cluster/worker.ts";
import { scheduleTimeZone } from "../config/schedule.ts";
import { allSystems } from "../config/systems.ts";
import { type RunningConsole, startConsole } from "../console/server.ts";
import { type Service, startService } from "../service/service.ts";
import { type CommandContext, createDestinations, type GlobalOptions, openContext } from "./context.ts";

interface ServeOptions {
  workerId?: string;
  /** false with --no-schedule: the console only. */
  schedule: boolean;
}

export function registerServeCommand(program: Command, globals: () => GlobalOptions) {
  program
    .command("serve")
    .description("run every scheduled job on its schedule, deliver continuously and serve the console, until SIGTERM or SIGINT")
    .option("--worker-id <id>", "this worker's name in `ferry workers`, the leases and the logs (default <host>:<pid>)")
    .option("--no-schedule", "serve the console only: no schedule, no run, no delivery in this process")
    .action(async (opts: ServeOptions) => {
      if (opts.workerId !== undefined) setWorkerId(opts.workerId);
      // The service talks to every source and destination of the project: each must resolve before it starts.
      // The console alone (--no-schedule) only reads state, and needs none of their secrets.
      // At info level by default: a line per run and per delivery pass with work, nothing per record.
      const ctx = await openContext(globals(), opts.schedule ? (project) => allSystems(project.systems) : undefined, "info");
      const log = ctx.log.child({ worker: workerId() });
      let service: Service | undefined;
      let listener: RunningConsole | undefined;
      try {
        if (opts.schedule) {
          const destinations = createDestinations(ctx.project, log);
          service = await startService({ project: ctx.project, store: ctx.store, destinations, log });
        }
        if (ctx.project.config.http.enabled) {
          const running = service;
          const serviceParts = running
            ? { requestRun: (job: string, reason: string) => running.request(job, reason), scheduler: () => (running.stopping ? "stopping" as const : "running" as const) }
            : {};
          listener = await startConsole({ project: ctx.project, store: ctx.store, log, ...serviceParts });
        }
      } catch (e) {
        // A service that cannot do its work does not stay up: stop what started, and exit non-zero.
        await service?.stop().catch(() => {});
        await ctx.close();
        throw e;
      }
      // The handlers first, the banner after: a supervisor that stops the service as soon as it says it is up
      // gets a clean stop, never the default signal's kill.
      const stopped = new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.stderr.write(`ferry serve: ${signal} received, finishing the batch in flight…\n`);
          resolve();
        };
        process.once("SIGINT", () => stop("SIGINT"));
        process.once("SIGTERM", () => stop("SIGTERM"));
      });
      process.stderr.write(banner(ctx, service, listener));
      await stopped;
      await listener?.close();
      await service?.stop();
      await ctx.close();
      process.stderr.write("ferry serve: stopped\n");
    });
}

function banner(ctx: CommandContext, service: Service | undefined, listener: RunningConsole | undefined): string {
  const scheduled = [...ctx.project.jobs.values()]
    .filter((j) => j.config.schedule)
    .map((j) => `${j.name} (${j.config.schedule} ${scheduleTimeZone(j.config.timezone)})`);
  const how = !service
    ? `console only (--no-schedule) on ${ctx.store.describe}`
    : service.mode === "cluster"
      ? `worker ${workerId()} of the cluster on ${ctx.store.describe}`
      : `one process on ${ctx.store.describe}`;
  const watched = [...ctx.project.jobs.values()].filter((j) => j.config.source.type === "folder").map((j) => `${j.name} (a folder)`);
  const watching = watched.length > 0 ? `; watching ${watched.join(", ")}` : "";
  const jobs = service ? `; ${scheduled.length} scheduled job(s): ${scheduled.join(", ") || "none"}${watching}` : "";
  const at = listener ? `; console at ${listener.url}` : "";
  return `ferry serve: ${how}${jobs}${at}. Stop with Ctrl-C or SIGTERM.\n`;
}
