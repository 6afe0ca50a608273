/**
 * Loads a project: `ferry.yaml`, every `jobs/*.yaml` and `mappings/*.yaml`, each validated against its
 * schema, then checked against each other (a job's mapping exists, its source is in the mapping, its
 * destinations are declared...) and by each connector's own `validate` hook. Past this loader, code trusts
 * its configuration. The schemas come from the connectors given (the registries); this layer knows none.
 *
 * The references in the blocks that say how to reach a system (ferry.yaml's connections and destinations,
 * a job's source) are left as written, to be resolved when Ferry talks to that system (systems.ts): loading
 * a project needs no system's variables. `validateProjectWith` resolves them all, as `ferry validate` does.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { z } from "zod";
import { compileMapping } from "../engine/map.ts";
import { ConfigError } from "../errors.ts";
import { alertsProblems } from "./alerts.check.ts";
import type { ConnectorRegistry, ConnectorSpec, SourceSpec } from "./connector.ts";
import { type JobConfig, jobSchemaFor } from "./job.schema.ts";
import { inputJsonSchema, type JsonSchema, secretPathsOf } from "./json-schema.ts";
import { locate, withLine } from "./locate.ts";
import { type MappingConfig, mappingSchema } from "./mapping.schema.ts";
import { type ProjectConfig, projectSchemaFor } from "./project.schema.ts";
import { resolveSecret, resolveTree } from "./secrets.ts";
import { allSystems, insideSystem, type ProjectSystems, type SystemBlock, type SystemRoots, systemBlocksIn, systemProblems } from "./systems.ts";
import { formatPath, parseConfigFile } from "./yaml.ts";

export interface LoadedJob {
  name: string;
  /** Path relative to the project folder, as shown in messages. */
  file: string;
  config: JobConfig;
}

export interface LoadedMapping {
  file: string;
  config: MappingConfig;
}

export interface Project {
  dir: string;
  file: string;
  config: ProjectConfig;
  jobs: Map<string, LoadedJob>;
  mappings: Map<string, LoadedMapping>;
  env: NodeJS.ProcessEnv;
  /** How to reach each system, its references unresolved until Ferry talks to it (`resolveSystem`). */
  systems: ProjectSystems;
}

export const PROJECT_FILE = "ferry.yaml";

/** The connectors a project may use: what the schemas and checks are built from. */
export interface Connectors {
  sources: ConnectorRegistry<SourceSpec>;
  destinations: ConnectorRegistry<ConnectorSpec>;
}

/** The schemas of the three kinds of configuration file, for the loader and for editors (JSON Schema). */
export function configSchemas(connectors: Connectors) {
  return {
    project: projectSchemaFor(connectors.sources.list(), connectors.destinations.list()),
    job: jobSchemaFor(connectors.sources.list()),
    mapping: mappingSchema,
  };
}

type Schemas = ReturnType<typeof configSchemas>;

const jsonSchemas = new WeakMap<z.ZodType, JsonSchema>();

/** Where the system blocks of ferry.yaml and of a job are (systems.ts). */
const PROJECT_SYSTEMS: SystemRoots = [["connections", "*"], ["destinations", "*"], ["alerts", "channels", "*"]];
const JOB_SYSTEMS: SystemRoots = [["source"]];

/**
 * Reads a file, checks it against its schema and resolves the references in its values, except in its
 * credential fields (write-only in the schema, wherever they appear), which stay references until a
 * connector resolves them into `Secret`s, and in its system blocks at `systems`, returned apart, whose
 * references wait until Ferry talks to that system. Any other reference that cannot resolve is reported
 * now, with its line.
 */
function readValidated<S extends z.ZodType>(
  loading: Pick<Loading, "dir" | "env" | "errors">,
  file: string,
  schema: S,
  systems: SystemRoots = [],
): { value: z.output<S>; blocks: SystemBlock[] } {
  const { dir, env, errors } = loading;
  const full = path.join(dir, file);
  let text: string;
  try {
    text = readFileSync(full, "utf8");
  } catch (e) {
    throw new ConfigError(
      "CONFIG_UNREADABLE",
      `cannot read the file: ${(e as Error).message}`,
      { file },
      { cause: e },
    );
  }
  const parsed = parseConfigFile(file, text, schema);
  let json = jsonSchemas.get(schema);
  if (!json) jsonSchemas.set(schema, (json = inputJsonSchema(schema)));
  const secrets = secretPathsOf(json, parsed);
  const keys = new Set(secrets.map((p) => formatPath(p)));
  for (const secret of secrets) {
    if (insideSystem(systems, secret)) continue;
    const reference = secret.reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], parsed);
    const where = { file, path: formatPath(secret) };
    attempt(errors, () => withLine(dir, file, () => resolveSecret(reference as string, { env, baseDir: dir, where })));
  }
  const kept = (p: readonly (string | number)[]) => keys.has(formatPath(p)) || insideSystem(systems, p);
  const value = withLine(dir, file, () => resolveTree(parsed, { env, baseDir: dir, where: { file } }, kept));
  return { value, blocks: systemBlocksIn(dir, file, value, systems, secrets, errors) };
}

/** Runs `fn`; a ConfigError it throws is collected and undefined returned, anything else thrown on. */
function attempt<T>(errors: ConfigError[], fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ConfigError) {
      errors.push(e);
      return undefined;
    }
    throw e;
  }
}

function yamlFiles(dir: string, sub: string): string[] {
  const folder = path.join(dir, sub);
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
    .sort()
    .map((f) => path.join(sub, f));
}

/** Finds ferry.yaml: the given path (file or folder), else the current folder. */
export function findProjectFile(given?: string): string {
  const candidate = given ? path.resolve(given) : path.resolve(PROJECT_FILE);
  const file =
    existsSync(candidate) && !candidate.endsWith(".yaml") && !candidate.endsWith(".yml")
      ? path.join(candidate, PROJECT_FILE)
      : candidate;
  if (!existsSync(file)) {
    throw new ConfigError(
      "CONFIG_NO_PROJECT",
      `no ${PROJECT_FILE} found at ${file}: run ferry in a project folder, or pass --config PATH`,
    );
  }
  return file;
}

/**
 * Loads and cross-checks the whole project. Every problem is a ConfigError naming the file, line and
 * field; the first one found is thrown (`ferry validate` collects them all with `validateProjectWith`).
 * The references of the systems' blocks are not resolved (`resolveSystem` does, when Ferry talks to one).
 */
export function loadProjectWith(connectors: Connectors, projectFile: string, env: NodeJS.ProcessEnv = process.env): Project {
  const issues = collect(connectors, projectFile, env);
  if (issues.errors.length > 0) throw issues.errors[0]!;
  return issues.project!;
}

export interface Validation {
  project: Project | null;
  files: string[];
  errors: ConfigError[];
}

/** Every problem of the project, the references of every system's block that cannot resolve among them. */
export function validateProjectWith(
  connectors: Connectors,
  projectFile: string,
  env: NodeJS.ProcessEnv = process.env,
): Validation {
  const validation = collect(connectors, projectFile, env);
  const project = validation.project;
  if (project) for (const block of allSystems(project.systems)) validation.errors.push(...systemProblems(project, block));
  return validation;
}

/** What the checks of one project share while it loads. */
interface Loading {
  connectors: Connectors;
  schemas: Schemas;
  dir: string;
  env: NodeJS.ProcessEnv;
  errors: ConfigError[];
  files: string[];
}

function collect(connectors: Connectors, projectFile: string, env: NodeJS.ProcessEnv): Validation {
  const dir = path.dirname(projectFile);
  const loading: Loading = { connectors, schemas: configSchemas(connectors), dir, env, errors: [], files: [PROJECT_FILE] };
  const { errors, files } = loading;
  const file = path.basename(projectFile);
  const read = attempt(errors, () => readValidated(loading, file, loading.schemas.project, PROJECT_SYSTEMS));
  if (!read) return { project: null, files, errors };
  const config = read.value;
  for (const [name, d] of Object.entries(config.destinations)) {
    const spec = connectors.destinations.get(d.type);
    const at = (field: string) => locate(dir, file, `destinations.${name}.${field}`);
    errors.push(...(spec.validate?.(d, { project: config, at }) ?? []));
  }
  const mappings = loadMappings(loading, config);
  const { jobs, sources } = loadJobs(loading, config, mappings);
  errors.push(...checkAlerts(loading, file, config, jobs));
  const named = (kind: string) => new Map(read.blocks.filter((b) => b.at[0] === kind).map((b) => [String(b.at.at(-1)), b]));
  const systems = { connections: named("connections"), destinations: named("destinations"), sources, channels: named("alerts") };
  return { project: { dir, file: projectFile, config, jobs, mappings, env, systems }, files, errors };
}

/** ferry.yaml's `alerts:` against the project's jobs, destinations and channels. */
function checkAlerts(loading: Loading, file: string, config: ProjectConfig, jobs: Map<string, LoadedJob>): ConfigError[] {
  return alertsProblems(config.alerts, {
    jobs: yamlFiles(loading.dir, config.jobs_dir).map((f) => path.basename(f).replace(/\.ya?ml$/, "")),
    valid: new Set(jobs.keys()),
    scheduled: new Set([...jobs.values()].filter((j) => j.config.schedule).map((j) => j.name)),
    destinations: Object.keys(config.destinations),
    at: (field) => locate(loading.dir, file, field),
  });
}

function loadMappings(loading: Loading, config: ProjectConfig): Map<string, LoadedMapping> {
  const { dir, errors } = loading;
  const mappings = new Map<string, LoadedMapping>();
  for (const file of yamlFiles(dir, config.mappings_dir)) {
    loading.files.push(file);
    const m = attempt(errors, () => readValidated(loading, file, loading.schemas.mapping))?.value;
    if (!m) continue;
    if (mappings.has(m.entity)) {
      errors.push(
        new ConfigError(
          "CONFIG_DUPLICATE_ENTITY",
          `entity "${m.entity}" is also defined in ${mappings.get(m.entity)!.file}`,
          locate(dir, file, "entity"),
        ),
      );
      continue;
    }
    for (const source of Object.keys(m.sources)) {
      attempt(errors, () => {
        try {
          compileMapping(m, source);
        } catch (e) {
          throw new ConfigError("CONFIG_BAD_TRANSFORM", (e as Error).message, locate(dir, file, `sources.${source}`));
        }
      });
    }
    for (const name of Object.keys(m.destinations)) {
      if (config.destinations[name]) continue;
      errors.push(
        new ConfigError(
          "CONFIG_UNKNOWN_DESTINATION",
          `no destination named "${name}" in ${PROJECT_FILE}: the destinations are ${Object.keys(config.destinations).join(", ") || "(none)"}`,
          locate(dir, file, `destinations.${name}`),
        ),
      );
    }
    mappings.set(m.entity, { file, config: m });
  }
  return mappings;
}

/** The valid jobs, and their sources' blocks (by job name). */
function loadJobs(loading: Loading, config: ProjectConfig, mappings: Map<string, LoadedMapping>) {
  const { dir, errors } = loading;
  const jobs = new Map<string, LoadedJob>();
  const sources = new Map<string, SystemBlock>();
  for (const file of yamlFiles(dir, config.jobs_dir)) {
    loading.files.push(file);
    const read = attempt(errors, () => readValidated(loading, file, loading.schemas.job, JOB_SYSTEMS));
    if (!read) continue;
    const job = read.value;
    const name = path.basename(file).replace(/\.ya?ml$/, "");
    const mapping = mappings.get(job.mapping);
    if (!mapping) {
      const reported = errors.some((e) => e.location?.file.startsWith(config.mappings_dir));
      errors.push(
        new ConfigError(
          "CONFIG_UNKNOWN_MAPPING",
          `no valid mapping for entity "${job.mapping}": the valid mappings are ${[...mappings.keys()].join(", ") || "(none)"}${
            reported ? " (a mapping with errors is reported above)" : ""
          }`,
          locate(dir, file, "mapping"),
        ),
      );
      continue;
    }
    errors.push(...checkJob(loading, config, file, job, mapping));
    jobs.set(name, { name, file, config: job });
    sources.set(name, read.blocks[0]!);
  }
  return { jobs, sources };
}

/** A job against its mapping and the project: every problem found. */
function checkJob(loading: Loading, config: ProjectConfig, file: string, job: JobConfig, mapping: LoadedMapping): ConfigError[] {
  const where = (p: string) => locate(loading.dir, file, p);
  const m = mapping.config;
  const problems: ConfigError[] = [];
  if (!m.sources[job.as]) {
    problems.push(
      new ConfigError(
        "CONFIG_UNKNOWN_SOURCE",
        `mapping ${mapping.file} has no source "${job.as}": it has ${Object.keys(m.sources).join(", ")}`,
        where("as"),
      ),
    );
  }
  const source = loading.connectors.sources.get(job.source.type);
  problems.push(...(source.validate?.(job.source, { project: config, at: (field) => where(`source.${field}`), job }) ?? []));
  for (const d of job.destinations ?? []) {
    if (!m.destinations[d])
      problems.push(new ConfigError("CONFIG_UNKNOWN_DESTINATION", `mapping ${mapping.file} has no destination "${d}"`, where("destinations")));
  }
  for (const rule of job.filter) {
    if (!m.fields[rule.field])
      problems.push(
        new ConfigError("CONFIG_UNKNOWN_FIELD", `filter names "${rule.field}", which is not a field of ${m.entity}`, where("filter")),
      );
  }
  if (job.deletes.policy === "archive") {
    for (const [name, d] of Object.entries(m.destinations)) {
      if (d.archive_property) continue;
      problems.push(
        new ConfigError(
          "CONFIG_ARCHIVE_NEEDS_PROPERTY",
          `delete policy archive needs destinations.${name}.archive_property in ${mapping.file}: the property set on archived records`,
          where("deletes.policy"),
        ),
      );
    }
  }
  return problems;
}

/** The destinations a job's runs feed: those its mapping names, as the job narrows them. */
export function jobDestinations(project: Project, job: LoadedJob): string[] {
  const mapping = project.mappings.get(job.config.mapping)!.config;
  return Object.keys(mapping.destinations).filter((d) => !job.config.destinations || job.config.destinations.includes(d));
}

export function getJob(project: Project, name: string): LoadedJob {
  const job = project.jobs.get(name);
  if (!job) {
    throw new ConfigError(
      "CONFIG_UNKNOWN_JOB",
      `no job named "${name}": the jobs are ${[...project.jobs.keys()].join(", ") || "(none)"} (in ${project.config.jobs_dir}/)`,
    );
  }
  return job;
}
