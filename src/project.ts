/**
 * A Ferry project as the program loads it: the configuration layer (`config/`) with the connectors of the
 * registries. Everything that loads or validates a project, or writes its JSON Schemas, comes through here.
 */
import {
  configSchemas as schemasFor,
  type Connectors,
  loadProjectWith,
  type Project,
  type Validation,
  validateProjectWith,
} from "./config/load.ts";
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
