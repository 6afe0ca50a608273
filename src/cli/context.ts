/** What every command needs: the project, the state store, the destinations, a logger. */
import path from "node:path";
import { durationMs } from "../config/duration.ts";
import type { DestinationConfig } from "../config/project.schema.ts";
import { requireSystems, resolveSystem, type SystemBlock } from "../config/systems.ts";
import { ConfigError } from "../errors.ts";
import { findProjectFile, loadProject, type Project } from "../project.ts";
import type { Destination } from "../destinations/destination.ts";
import { destinations as registry } from "../destinations/registry.ts";
import { createLogger, type Logger } from "../log.ts";
import { RunLogSink } from "../runner/run-log.ts";
import { runContext } from "../run-context.ts";
import { openStateStore, type StateStore } from "../state/store.ts";

export interface GlobalOptions {
  config?: string;
  json?: boolean;
}

export interface CommandContext {
  project: Project;
  store: StateStore;
  log: Logger;
  close(): Promise<void>;
}

/**
 * Loads the project and opens its state store. A command that reads state needs nothing else; one about to
 * talk to systems names their blocks (`talksTo`, e.g. `jobSystems`): a reference of theirs that cannot
 * resolve stops it first, a ConfigError naming its file, line and field, before anything is opened.
 */
export async function openContext(
  options: GlobalOptions,
  talksTo: (project: Project) => readonly SystemBlock[] = () => [],
  /** The stderr log level unless FERRY_LOG_LEVEL sets it: `warn` for commands, `info` for `ferry serve`. */
  defaultLevel = "warn",
): Promise<CommandContext> {
  const project = loadProject(findProjectFile(options.config));
  requireSystems(project, talksTo(project));
  const store = await openStateStore(project.config.state, project.dir);
  // A run's lines are kept for the console (info and up), whatever stderr shows.
  const kept = new RunLogSink(store);
  const log = createLogger({ level: process.env.FERRY_LOG_LEVEL ?? defaultLevel, also: { level: "info", stream: kept } });
  return {
    project,
    store,
    log,
    close: async () => {
      await kept.close();
      await store.close();
    },
  };
}

/**
 * The project's destinations (those named in `only`, else all), each made by its connector from its block
 * in ferry.yaml, its references resolved now: one that cannot resolve is a ConfigError naming its file,
 * line and field, thrown before any destination is made.
 */
export function createDestinations(
  project: Project,
  log: Logger,
  only?: readonly string[],
): Map<string, Destination> {
  const file = path.basename(project.file);
  const configs = [...project.systems.destinations]
    .filter(([name]) => !only || only.includes(name))
    .map(([name, block]) => [name, resolveSystem<DestinationConfig>(project, block)] as const);
  const out = new Map<string, Destination>();
  for (const [name, config] of configs) {
    const context = runContext({ log, env: project.env, baseDir: project.dir, file, block: `destinations.${name}` });
    out.set(name, registry.get(config.type).create(name, config, context));
  }
  return out;
}

/**
 * `--wait`, in ms: how long a command that delivers waits for a destination that is unavailable (and for
 * retries coming due) before it gives up on it, exit 4, the records still pending.
 */
export function waitOf(text: string): number {
  try {
    return durationMs(text);
  } catch {
    throw new ConfigError("CLI_BAD_OPTION", `--wait ${text}: give a duration such as 30s, 2m or 1h`);
  }
}
