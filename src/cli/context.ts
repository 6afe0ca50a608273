/** What every command needs: the project, the state store, the destinations, a logger. */
import path from "node:path";
import { durationMs } from "../config/duration.ts";
import { ConfigError } from "../errors.ts";
import { findProjectFile, loadProject, type Project } from "../project.ts";
import type { Destination } from "../destinations/destination.ts";
import { destinations as registry } from "../destinations/registry.ts";
import { createLogger, type Logger } from "../log.ts";
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

export async function openContext(options: GlobalOptions): Promise<CommandContext> {
  const project = loadProject(findProjectFile(options.config));
  const log = createLogger({ level: process.env.FERRY_LOG_LEVEL ?? "warn" });
  const store = await openStateStore(project.config.state, project.dir);
  return { project, store, log, close: () => store.close() };
}

export function createDestinations(
  project: Project,
  log: Logger,
  only?: readonly string[],
): Map<string, Destination> {
  const out = new Map<string, Destination>();
  for (const [name, config] of Object.entries(project.config.destinations)) {
    if (only && !only.includes(name)) continue;
    const definition = registry.get(config.type);
    const file = path.basename(project.file);
    const context = runContext({ log, env: project.env, baseDir: project.dir, file, block: `destinations.${name}` });
    out.set(name, definition.create(name, config, context));
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
