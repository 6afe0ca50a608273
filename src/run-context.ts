/**
 * The one object a connector is given when it is created: what it may log to, when to stop, whether to
 * write, where to leave what helps debug a failure, and how to name its own configuration in a message.
 * Sources and destinations get the same shape (a source also gets the connection it reads through).
 */
import path from "node:path";
import { withLine } from "./config/locate.ts";
import { resolveSecret, type Secret } from "./config/secrets.ts";
import type { Logger } from "./log.ts";

export interface RunContext {
  /** Bound to the job and run (a source) or the destination. */
  readonly log: Logger;
  /** Aborted when the work must stop (SIGTERM, a deadline): every I/O the connector starts takes it. */
  readonly signal: AbortSignal;
  /** A dry run: read as usual, write nothing anywhere. */
  readonly dryRun: boolean;
  /** A folder of this run's own for what a failed run leaves to debug it (screenshots, traces); made on demand. */
  readonly artifactsDir: string;
  /** The configuration file that declares the connector (`jobs/web.yaml`, `ferry.yaml`), for messages. */
  readonly file: string;
  /** The connector's block in that file (`source`, `destinations.crm`), for messages. */
  readonly block: string;
  /** The project's folder: relative paths in the connector's configuration are resolved against it. */
  readonly baseDir: string;
  /** The environment secret references resolve against (the project's). */
  readonly env: NodeJS.ProcessEnv;
  /**
   * Resolves one of the connector's credential fields (a reference the loader kept as it was) into a
   * `Secret`, as late as possible; an error names the file, the line and the field.
   */
  secret(field: string, reference: string): Secret;
}

export interface RunContextOptions {
  baseDir: string;
  env: NodeJS.ProcessEnv;
  log: Logger;
  file: string;
  block: string;
  signal?: AbortSignal;
  dryRun?: boolean;
  /** Default: `.ferry/runs/<block>/<time>` under the project. */
  artifactsDir?: string;
}

export function runContext(options: RunContextOptions): RunContext {
  const { baseDir, env, file, block } = options;
  return {
    log: options.log,
    signal: options.signal ?? new AbortController().signal,
    dryRun: options.dryRun ?? false,
    artifactsDir:
      options.artifactsDir ?? path.join(baseDir, ".ferry", "runs", block, new Date().toISOString().replaceAll(":", "-")),
    file,
    block,
    baseDir,
    env,
    secret: (field, reference) =>
      withLine(baseDir, file, () => resolveSecret(reference, { env, baseDir, where: { file, path: `${block}.${field}` } })),
  };
}
