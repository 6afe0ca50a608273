/**
 * Loads a project: `ferry.yaml`, every `jobs/*.yaml` and `mappings/*.yaml`, each validated against its
 * schema, then checked against each other (a job's mapping exists, its source is in the mapping, its
 * connection and destinations are declared...). Past this loader, code trusts its configuration.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { isMap, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { compileMapping } from "../engine/map.ts";
import { assertReadOnlyQuery } from "../sources/sql/read-only.ts";
import { ConfigError, type ConfigLocation, formatLocation } from "../errors.ts";
import { type JobConfig, jobSchema } from "./job.schema.ts";
import { type MappingConfig, mappingSchema } from "./mapping.schema.ts";
import { type ProjectConfig, projectSchema } from "./project.schema.ts";
import { resolveSecret, resolveTree } from "./secrets.ts";
import { parseConfigFile } from "./yaml.ts";

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
}

export const PROJECT_FILE = "ferry.yaml";

/** Credential fields stay references after loading; destinations resolve them into `Secret`s. */
const DESTINATION_SECRETS = [
  "token",
  "oauth.client_secret",
  "oauth.refresh_token",
  "oauth.private_key",
  "auth.token",
  "auth.password",
  "auth.value",
  "auth.client_secret",
  "target.sftp.password",
  "target.sftp.private_key",
  "target.sftp.passphrase",
];

const SECRET_PATHS = [
  ...DESTINATION_SECRETS.map((p) => `destinations.*.${p}`),
  "connections.*.url",
  "connections.*.password",
  "source.login.username",
  "source.login.password",
  "source.password",
  "source.private_key",
  "source.passphrase",
];

/** The line and column of a dotted path in a YAML file, for errors found after schema validation. */
export function locate(dir: string, file: string, fieldPath: string): ConfigLocation {
  try {
    const counter = new LineCounter();
    const doc = parseDocument(readFileSync(path.join(dir, file), "utf8"), { lineCounter: counter });
    let node: unknown = doc.contents;
    let offset: number | undefined;
    for (const part of fieldPath.split(".")) {
      if (!isMap(node)) break;
      const pair = node.items.find((p) => String((p.key as { value?: unknown })?.value) === part);
      if (!pair) break;
      offset = (pair.key as { range?: [number, number, number] }).range?.[0];
      node = pair.value;
    }
    if (offset === undefined) return { file, path: fieldPath };
    const pos = counter.linePos(offset);
    return { file, line: pos.line, column: pos.col, path: fieldPath };
  } catch {
    return { file, path: fieldPath };
  }
}

function readValidated<S extends z.ZodType>(
  dir: string,
  file: string,
  schema: S,
  env: NodeJS.ProcessEnv,
): z.output<S> {
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
  return withLine(dir, file, () => resolveTree(parsed, { env, baseDir: dir, where: { file } }, SECRET_PATHS));
}

/** Reference errors know the field but not its line: adds the line, so every ConfigError names both. */
function withLine<T>(dir: string, file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof ConfigError) || !e.location?.path || e.location.line !== undefined) throw e;
    const prefix = `${formatLocation(e.location)}: `;
    const message = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
    throw new ConfigError(e.code, message, locate(dir, file, e.location.path), { cause: e.cause });
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
 * field; the first one found is thrown (`ferry validate` collects them all with `validateProject`).
 */
export function loadProject(projectFile: string, env: NodeJS.ProcessEnv = process.env): Project {
  const issues = collect(projectFile, env);
  if (issues.errors.length > 0) throw issues.errors[0]!;
  return issues.project!;
}

export interface Validation {
  project: Project | null;
  files: string[];
  errors: ConfigError[];
}

export function validateProject(projectFile: string, env: NodeJS.ProcessEnv = process.env): Validation {
  return collect(projectFile, env);
}

function collect(projectFile: string, env: NodeJS.ProcessEnv): Validation {
  const dir = path.dirname(projectFile);
  const errors: ConfigError[] = [];
  const files: string[] = [PROJECT_FILE];
  const attempt = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof ConfigError) {
        errors.push(e);
        return undefined;
      }
      throw e;
    }
  };
  const config = attempt(() => readValidated(dir, path.basename(projectFile), projectSchema, env));
  if (!config) return { project: null, files, errors };
  // Credentials stay references until a destination is created, but one that cannot resolve is a
  // configuration error now: found by `validate`, and before a run writes anything.
  for (const [name, d] of Object.entries(config.destinations)) {
    const file = path.basename(projectFile);
    for (const field of DESTINATION_SECRETS) {
      const reference = field.split(".").reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], d);
      if (typeof reference !== "string") continue;
      const where = { file, path: `destinations.${name}.${field}` };
      attempt(() => withLine(dir, file, () => resolveSecret(reference, { env, baseDir: dir, where })));
    }
  }

  for (const [name, c] of Object.entries(config.connections)) {
    const file = path.basename(projectFile);
    for (const field of ["url", "password"] as const) {
      const reference = c.dialect === "sqlite" ? undefined : c[field];
      if (reference === undefined) continue;
      const where = { file, path: `connections.${name}.${field}` };
      attempt(() => withLine(dir, file, () => resolveSecret(reference, { env, baseDir: dir, where })));
    }
  }

  const mappings = new Map<string, LoadedMapping>();
  for (const file of yamlFiles(dir, config.mappings_dir)) {
    files.push(file);
    const m = attempt(() => readValidated(dir, file, mappingSchema, env));
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
      attempt(() => {
        try {
          compileMapping(m, source);
        } catch (e) {
          throw new ConfigError(
            "CONFIG_BAD_TRANSFORM",
            (e as Error).message,
            locate(dir, file, `sources.${source}`),
          );
        }
      });
    }
    for (const [name, d] of Object.entries(m.destinations)) {
      if (!config.destinations[name]) {
        errors.push(
          new ConfigError(
            "CONFIG_UNKNOWN_DESTINATION",
            `no destination named "${name}" in ${PROJECT_FILE}: the destinations are ${Object.keys(config.destinations).join(", ") || "(none)"}`,
            locate(dir, file, `destinations.${name}`),
          ),
        );
      }
      void d;
    }
    mappings.set(m.entity, { file, config: m });
  }

  const jobs = new Map<string, LoadedJob>();
  for (const file of yamlFiles(dir, config.jobs_dir)) {
    files.push(file);
    const job = attempt(() => readValidated(dir, file, jobSchema, env));
    if (!job) continue;
    const name = path.basename(file).replace(/\.ya?ml$/, "");
    if (job.source.type === "sftp") {
      const sftp = job.source;
      for (const field of ["password", "private_key", "passphrase"] as const) {
        const reference = sftp[field];
        if (reference === undefined) continue;
        const where = { file, path: `source.${field}` };
        attempt(() => withLine(dir, file, () => resolveSecret(reference, { env, baseDir: dir, where })));
      }
    }
    const login = job.source.type === "scrape" ? job.source.login : undefined;
    if (login) {
      // As with destination tokens: kept as references, but one that cannot resolve is caught now.
      for (const field of ["username", "password"] as const) {
        const where = { file, path: `source.login.${field}` };
        attempt(() => withLine(dir, file, () => resolveSecret(login[field], { env, baseDir: dir, where })));
      }
    }
    const where = (p: string) => locate(dir, file, p);
    const mapping = mappings.get(job.mapping);
    if (!mapping) {
      errors.push(
        new ConfigError(
          "CONFIG_UNKNOWN_MAPPING",
          `no valid mapping for entity "${job.mapping}": the valid mappings are ${[...mappings.keys()].join(", ") || "(none)"}${
            errors.some((e) => e.location?.file.startsWith(config.mappings_dir)) ? " (a mapping with errors is reported above)" : ""
          }`,
          where("mapping"),
        ),
      );
      continue;
    }
    const m = mapping.config;
    if (!m.sources[job.as]) {
      errors.push(
        new ConfigError(
          "CONFIG_UNKNOWN_SOURCE",
          `mapping ${mapping.file} has no source "${job.as}": it has ${Object.keys(m.sources).join(", ")}`,
          where("as"),
        ),
      );
    }
    const connection = job.source.type === "sql" ? config.connections[job.source.connection] : undefined;
    if (job.source.type === "sql" && connection) {
      // Refused here too, so `ferry validate` finds a writing query with its file and line.
      const query = job.source.query;
      attempt(() => assertReadOnlyQuery(query, connection.dialect, where("source.query")));
    }
    if (job.source.type === "sql" && !connection) {
      errors.push(
        new ConfigError(
          "CONFIG_UNKNOWN_CONNECTION",
          `no connection named "${job.source.connection}" in ${PROJECT_FILE}: the connections are ${Object.keys(config.connections).join(", ") || "(none)"}`,
          where("source.connection"),
        ),
      );
    }
    for (const d of job.destinations ?? []) {
      if (!m.destinations[d])
        errors.push(
          new ConfigError(
            "CONFIG_UNKNOWN_DESTINATION",
            `mapping ${mapping.file} has no destination "${d}"`,
            where("destinations"),
          ),
        );
    }
    for (const rule of job.filter) {
      if (!m.fields[rule.field])
        errors.push(
          new ConfigError(
            "CONFIG_UNKNOWN_FIELD",
            `filter names "${rule.field}", which is not a field of ${m.entity}`,
            where("filter"),
          ),
        );
    }
    if (job.deletes.policy === "archive") {
      for (const [name, d] of Object.entries(m.destinations)) {
        if (!d.archive_property) {
          errors.push(
            new ConfigError(
              "CONFIG_ARCHIVE_NEEDS_PROPERTY",
              `delete policy archive needs destinations.${name}.archive_property in ${mapping.file}: the property set on archived records`,
              where("deletes.policy"),
            ),
          );
        }
      }
    }
    jobs.set(name, { name, file, config: job });
  }
  return { project: { dir, file: projectFile, config, jobs, mappings, env }, files, errors };
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
