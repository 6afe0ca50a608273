/**
 * The runner's entry point: one run of one job. A file source's run takes each file as a run of its own
 * (`runFiles`); any other source is read as a table (`runTable`).
 */
import path from "node:path";
import type { LoadedJob, Project } from "../config/load.ts";
import type { ConnectionConfig } from "../config/project.schema.ts";
import { resolveSystem } from "../config/systems.ts";
import type { Logger } from "../log.ts";
import { connectionSystem } from "../project.ts";
import { runContext } from "../run-context.ts";
import { sources } from "../sources/registry.ts";
import type { Source } from "../sources/source.ts";
import type { StateStore } from "../state/store.ts";
import { runFiles } from "./run-files.ts";
import { prepareRun, runTable } from "./run-table.ts";
import type { RunOptions, RunResult } from "./run-types.ts";

/** What a run is given and returns, for the runner's callers (CLI, service, tests). */
export type { FileRunResult, RunOptions, RunResult } from "./run-types.ts";

export interface OpenSourceOptions {
  signal?: AbortSignal;
  dryRun?: boolean;
  /** When the run started: names its artifacts folder. */
  startedAt?: string;
}

/**
 * The job's source, made by its connector from the job's `source:` settings and the run's context. The
 * references of that block and of the connection it reads through resolve now: one that cannot is a
 * ConfigError naming its file, line and field.
 */
export function openSource(project: Project, job: LoadedJob, log: Logger, options: OpenSourceOptions = {}): Source {
  const startedAt = options.startedAt ?? new Date().toISOString();
  const context = runContext({
    baseDir: project.dir,
    env: project.env,
    log,
    file: job.file,
    block: "source",
    signal: options.signal,
    dryRun: options.dryRun,
    artifactsDir: path.join(project.dir, ".ferry", "runs", job.name, startedAt.replaceAll(":", "-")),
  });
  const config = resolveSystem(project, project.systems.sources.get(job.name)!);
  const connection = connectionSystem(project, job);
  const connections = connection ? { [connection.name]: resolveSystem<ConnectionConfig>(project, connection.block) } : {};
  return sources.get(job.config.source.type).create(config, { ...context, connections });
}

export async function runJob(
  project: Project,
  job: LoadedJob,
  store: StateStore,
  options: RunOptions,
): Promise<RunResult> {
  const run = prepareRun(project, job, options);
  const source = options.source ?? openSource(project, job, run.log, {
    startedAt: run.startedAt,
    signal: options.signal,
    dryRun: options.dryRun,
  });
  if (source.files) return runFiles(project, job, store, options, source);
  return runTable(run, store, options, source);
}
