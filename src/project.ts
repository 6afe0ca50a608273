/**
 * A Ferry project as the program loads it: the configuration layer (`config/`) with the connectors of the
 * registries. Everything that loads or validates a project, or writes its JSON Schemas, comes through here.
 */
import {
  configSchemas as schemasFor,
  type Connectors,
  jobDestinations,
  type LoadedJob,
  loadProjectWith,
  type Project,
  type Validation,
  validateProjectWith,
} from "./config/load.ts";
import { destinationSystems, type SystemBlock } from "./config/systems.ts";
import { destinations } from "./destinations/registry.ts";
import { sources } from "./sources/registry.ts";

export { findProjectFile, getJob, type LoadedJob, type LoadedMapping, PROJECT_FILE, type Project, type Validation } from "./config/load.ts";

export const connectors: Connectors = { sources, destinations };

/** The schemas of ferry.yaml, jobs and mappings, with every registered connector. */
export function configSchemas() {
  return schemasFor(connectors);
}

export function loadProject(projectFile: string, env: NodeJS.ProcessEnv = process.env): Project {
  return loadProjectWith(connectors, projectFile, env);
}

export function validateProject(projectFile: string, env: NodeJS.ProcessEnv = process.env): Validation {
  return validateProjectWith(connectors, projectFile, env);
}

/** The connection a job's source reads through (ferry.yaml's `connections:`), by name, when it reads through one. */
export function connectionSystem(project: Project, job: LoadedJob): { name: string; block: SystemBlock } | undefined {
  const name = sources.get(job.config.source.type).connectionOf?.(job.config.source);
  const block = name === undefined ? undefined : project.systems.connections.get(name);
  return name === undefined || !block ? undefined : { name, block };
}

/**
 * The blocks of the systems a job's run talks to: its source, the connection it reads through, and, when
 * the run delivers, the destinations it feeds.
 */
export function jobSystems(project: Project, job: LoadedJob, options: { deliver: boolean }): SystemBlock[] {
  const connection = connectionSystem(project, job);
  return [
    project.systems.sources.get(job.name)!,
    ...(connection ? [connection.block] : []),
    ...(options.deliver ? destinationSystems(project.systems, jobDestinations(project, job)) : []),
  ];
}
