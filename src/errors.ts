/**
 * Ferry's error model. The class decides what happens next:
 * - ConfigError: stop before writing anything; never retried. Names the file, line and field.
 * - TransientError: retry with backoff; carries `retryAfterMs` when the server gave one.
 * - DataError: reject one record, count it, report it; the run goes on.
 * - PermanentError: an external system refused for good (a 4xx other than 408/409/429).
 * - FatalError: an invariant broke (accounting mismatch, guard tripped); the run stops and is marked failed.
 *
 * Every error has a stable `code` (`SOURCE_SQL_NOT_READ_ONLY`, `DEST_RATE_LIMITED`...) that scripts and
 * tests can match on, and a message that tells the user what to do.
 */

export type ErrorKind = "config" | "transient" | "data" | "permanent" | "fatal";

export interface ErrorOptions {
  cause?: unknown;
  /** Structured context safe to log: never secrets, never request headers. */
  details?: Record<string, unknown>;
}

export class FerryError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly details: Record<string, unknown>;

  constructor(kind: ErrorKind, code: string, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.kind = kind;
    this.code = code;
    this.details = options.details ?? {};
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, kind: this.kind, message: this.message, ...this.details };
  }
}

/** Where in a configuration file something is wrong. */
export interface ConfigLocation {
  file: string;
  line?: number;
  column?: number;
  /** Dotted path of the field, e.g. `fields.email.rule`. */
  path?: string;
}

export class ConfigError extends FerryError {
  readonly location: ConfigLocation | undefined;
  constructor(code: string, message: string, location?: ConfigLocation, options: ErrorOptions = {}) {
    super("config", code, location ? `${formatLocation(location)}: ${message}` : message, {
      ...options,
      details: { ...options.details, ...(location ?? {}) },
    });
    this.location = location;
  }
}

export function formatLocation(loc: ConfigLocation): string {
  let out = loc.file;
  if (loc.line !== undefined) out += `:${loc.line}`;
  if (loc.column !== undefined) out += `:${loc.column}`;
  if (loc.path) out += ` (${loc.path})`;
  return out;
}

export class TransientError extends FerryError {
  readonly retryAfterMs: number | undefined;
  constructor(code: string, message: string, options: ErrorOptions & { retryAfterMs?: number } = {}) {
    super("transient", code, message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

export class DataError extends FerryError {
  constructor(code: string, message: string, options: ErrorOptions = {}) {
    super("data", code, message, options);
  }
}

export class PermanentError extends FerryError {
  constructor(code: string, message: string, options: ErrorOptions = {}) {
    super("permanent", code, message, options);
  }
}

export class FatalError extends FerryError {
  constructor(code: string, message: string, options: ErrorOptions = {}) {
    super("fatal", code, message, options);
  }
}

/** Process exit codes of the CLI, stable for scripts. */
export const ExitCode = {
  ok: 0,
  /** The run finished but some records were rejected or failed delivery. */
  partial: 1,
  /** Configuration is invalid: nothing was read or written. */
  config: 2,
  /** A safety guard refused the run (mass delete, accounting); nothing was applied past the last commit. */
  refused: 3,
  /** A source or destination could not be reached after retries. */
  unavailable: 4,
  /** Anything else: a bug. */
  internal: 70,
} as const;

export function exitCodeFor(error: unknown): number {
  if (!(error instanceof FerryError)) return ExitCode.internal;
  switch (error.kind) {
    case "config":
      return ExitCode.config;
    case "fatal":
      return ExitCode.refused;
    case "transient":
    case "permanent":
      return ExitCode.unavailable;
    case "data":
      return ExitCode.partial;
  }
}

/** A one-line description of any thrown value, for logs and run records. */
export function describeError(error: unknown): string {
  if (error instanceof FerryError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
