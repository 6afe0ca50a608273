/**
 * Ferry's error model. The class decides what happens next:
 * - ConfigError: stop before writing anything; never retried. Names the file, line and field.
 * - TransientError: retry with backoff; carries `retryAfterMs` when the server gave one.
 * - DataError: reject one record, count it, report it; the run goes on.
 * - PermanentError: an external system refused for good (a 4xx other than 408/409/429).
 * - FatalError: an invariant broke (accounting mismatch, guard tripped); the run stops and is marked failed.
 *
 * Every error has a stable `code` (`SOURCE_SQL_NOT_READ_ONLY`, `DEST_RATE_LIMITED`...) that scripts and
 * tests can match on, and a message that tells the user what to do. Every code is declared once, in
 * ERROR_CODES, with its class, what it blames and whether a person must act: a code that is not there, or
 * is there for another class, does not compile.
 */

export type ErrorKind = "config" | "transient" | "data" | "permanent" | "fatal";

/**
 * What an error says is wrong, which decides who waits for whom:
 * - configuration: Ferry's configuration, its command line, or the access and setup they name;
 * - source: a source system or file as a whole (down, unreadable, refused by a guard);
 * - destination: a destination as a whole (down, rate limiting, refusing the credentials or the folder):
 *   delivery holds its records without counting an attempt;
 * - record: one record (or one record's request); the others go on;
 * - undecided: the destination or one of the request's records, not known yet (a 500; an answer that does not
 *   say what became of a record): delivery splits the batch and compares with the other records, then
 *   blames the record (DEST_RECORD_FAILED) or the destination;
 * - ferry: Ferry itself (its state store, an invariant, a run stopped from outside);
 * - alert-channel: an alert channel (a webhook, Slack, a mail server): its message is tried a few times, then
 *   given up and logged; no run and no delivery waits for it.
 */
export type Blame = "configuration" | "source" | "destination" | "record" | "undecided" | "ferry" | "alert-channel";

/** Process exit codes of the CLI, stable for scripts. */
export const ExitCode = {
  ok: 0,
  /** The run finished but some records were rejected or failed delivery. */
  partial: 1,
  /** Configuration is invalid: nothing was read or written. */
  config: 2,
  /** A safety guard refused the run (mass delete, accounting) or it stopped; nothing was applied past the last commit. */
  refused: 3,
  /** A source or destination could not be reached after retries; the outbox keeps what was not sent. */
  unavailable: 4,
  /** A destination refused its credentials: a person must fix the secret its message names. */
  credentials: 5,
  /** The job is running in another process (its run lease is held): nothing was read or written. */
  running: 6,
  /** Anything else: a bug. */
  internal: 70,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface ErrorCodeSpec {
  readonly kind: ErrorKind;
  readonly blame: Blame;
  /** Waiting does not help: a person must change something (configuration, credentials, data, a file) first. */
  readonly person: boolean;
  /** The exit code of a command this error stops, when it is not its class's (see exitCodeFor). */
  readonly exit?: ExitCode;
}

/** Every code Ferry raises or reports. */
export const ERROR_CODES = {
  // Configuration and the command line: nothing is read or written until a person fixes them.
  CLI_BAD_OPTION: { kind: "config", blame: "configuration", person: true },
  CONFIG_ARCHIVE_NEEDS_PROPERTY: { kind: "config", blame: "configuration", person: true },
  CONFIG_BAD_TRANSFORM: { kind: "config", blame: "configuration", person: true },
  CONFIG_CHANGES_FILE_DELETES: { kind: "config", blame: "configuration", person: true },
  CONFIG_BAD_URL: { kind: "config", blame: "configuration", person: true },
  CONFIG_CSV_ALIAS_CONFLICT: { kind: "config", blame: "configuration", person: true },
  CONFIG_CSV_NO_COLUMNS: { kind: "config", blame: "configuration", person: true },
  CONFIG_CSV_UNKNOWN_COLUMN: { kind: "config", blame: "configuration", person: true },
  CONFIG_DUPLICATE_ENTITY: { kind: "config", blame: "configuration", person: true },
  CONFIG_INVALID: { kind: "config", blame: "configuration", person: true },
  CONFIG_KEY_NOT_A_COLUMN: { kind: "config", blame: "configuration", person: true },
  CONFIG_MISSING_COLUMN: { kind: "config", blame: "configuration", person: true },
  CONFIG_NO_PROJECT: { kind: "config", blame: "configuration", person: true },
  CONFIG_ORACLE_NO_SERVICE: { kind: "config", blame: "configuration", person: true },
  CONFIG_SECRET_INVALID: { kind: "config", blame: "configuration", person: true },
  CONFIG_SECRET_UNRESOLVED: { kind: "config", blame: "configuration", person: true },
  CONFIG_UNKNOWN_CHANNEL: { kind: "config", blame: "configuration", person: true },
  CONFIG_UNKNOWN_CONNECTION: { kind: "config", blame: "configuration", person: true },
  CONFIG_UNKNOWN_DESTINATION: { kind: "config", blame: "configuration", person: true },
  CONFIG_UNKNOWN_FIELD: { kind: "config", blame: "configuration", person: true },
  CONFIG_UNKNOWN_JOB: { kind: "config", blame: "configuration", person: true },
  CONFIG_UNKNOWN_MAPPING: { kind: "config", blame: "configuration", person: true },
  CONFIG_UNKNOWN_SOURCE: { kind: "config", blame: "configuration", person: true },
  CONFIG_UNREADABLE: { kind: "config", blame: "configuration", person: true },
  CONFIG_YAML_SYNTAX: { kind: "config", blame: "configuration", person: true },
  CONFLICT_RESOLUTION_INVALID: { kind: "config", blame: "configuration", person: true },
  /** A job name that the project does not have (console, API, trigger). */
  JOB_UNKNOWN: { kind: "config", blame: "configuration", person: true },
  DEST_BAD_PRIVATE_KEY: { kind: "config", blame: "configuration", person: true },
  DLQ_ALREADY_RESOLVED: { kind: "config", blame: "configuration", person: true },
  DLQ_BAD_ID: { kind: "config", blame: "configuration", person: true },
  DLQ_NOTHING_SELECTED: { kind: "config", blame: "configuration", person: true },
  DLQ_UNKNOWN_ENTRY: { kind: "config", blame: "configuration", person: true },
  // The console's users and API tokens (src/console/auth/), managed from the command line or the console.
  PASSWORD_HASHING_UNAVAILABLE: { kind: "config", blame: "configuration", person: true },
  PASSWORD_MISMATCH: { kind: "config", blame: "configuration", person: true },
  PASSWORD_MISSING: { kind: "config", blame: "configuration", person: true },
  PASSWORD_TOO_LONG: { kind: "config", blame: "configuration", person: true },
  PASSWORD_TOO_SHORT: { kind: "config", blame: "configuration", person: true },
  ROLE_UNKNOWN: { kind: "config", blame: "configuration", person: true },
  TOKEN_EXPIRY_INVALID: { kind: "config", blame: "configuration", person: true },
  TOKEN_NAME_INVALID: { kind: "config", blame: "configuration", person: true },
  TOKEN_UNKNOWN: { kind: "config", blame: "configuration", person: true },
  USER_DISABLED: { kind: "config", blame: "configuration", person: true },
  USER_EXISTS: { kind: "config", blame: "configuration", person: true },
  USER_NAME_INVALID: { kind: "config", blame: "configuration", person: true },
  USER_UNKNOWN: { kind: "config", blame: "configuration", person: true },
  SOURCE_FOLDER_MISSING: { kind: "config", blame: "configuration", person: true },
  SOURCE_SCRAPE_LOGIN_FAILED: { kind: "config", blame: "configuration", person: true },
  SOURCE_SCRAPE_NO_BROWSER: { kind: "config", blame: "configuration", person: true },
  SOURCE_SCRAPE_STEP_INVALID: { kind: "config", blame: "configuration", person: true },
  SOURCE_SFTP_HOST_KEY_MISMATCH: { kind: "config", blame: "configuration", person: true },
  SOURCE_SFTP_LOGIN_REFUSED: { kind: "config", blame: "configuration", person: true },
  SOURCE_SFTP_NOT_FOUND: { kind: "config", blame: "configuration", person: true },
  SOURCE_SFTP_PERMISSION: { kind: "config", blame: "configuration", person: true },
  SOURCE_SQL_BAD_CONNECTION: { kind: "config", blame: "configuration", person: true },
  SOURCE_SQL_LOGIN_REFUSED: { kind: "config", blame: "configuration", person: true },
  SOURCE_SQL_NOT_READ_ONLY: { kind: "config", blame: "configuration", person: true },
  SOURCE_SQL_PRIVILEGED_LOGIN: { kind: "config", blame: "configuration", person: true },
  SOURCE_SQL_QUERY_FAILED: { kind: "config", blame: "configuration", person: true },
  SOURCE_SQL_TLS_UNAVAILABLE: { kind: "config", blame: "configuration", person: true },
  SOURCE_SQL_UNKNOWN_COLUMN: { kind: "config", blame: "configuration", person: true },

  // A destination as a whole: its records are held, not blamed. Transient ones clear by themselves.
  DEST_CIRCUIT_OPEN: { kind: "transient", blame: "destination", person: false },
  DEST_RATE_LIMITED: { kind: "transient", blame: "destination", person: false },
  DEST_TIMEOUT: { kind: "transient", blame: "destination", person: false },
  DEST_UNAVAILABLE: { kind: "transient", blame: "destination", person: false },
  DEST_UNREACHABLE: { kind: "transient", blame: "destination", person: false },
  DEST_FILE_FOLDER: { kind: "permanent", blame: "destination", person: true },
  DEST_SFTP_HOST_KEY_MISMATCH: { kind: "permanent", blame: "destination", person: true },
  DEST_UNAUTHORIZED: { kind: "permanent", blame: "destination", person: true, exit: ExitCode.credentials },

  // The destination or one record, until delivery has split the batch and compared with the others.
  /** A 5xx other than 502/503/504: the API failed on this request, perhaps because of a record in it. */
  DEST_SERVER_ERROR: { kind: "transient", blame: "undecided", person: false },
  /** A 2xx whose answer does not say what became of a record, and a lookup does not find it applied. */
  DEST_UNCONFIRMED: { kind: "transient", blame: "undecided", person: false },

  // One record's delivery: retried (transient, attempts counted) or dead-lettered (permanent).
  DEST_RECORD_BUSY: { kind: "transient", blame: "record", person: false },
  /** An undecided failure met by this record alone while the others of its batch went through. */
  DEST_RECORD_FAILED: { kind: "transient", blame: "record", person: false },
  /** A file of records not completely written: retried as its records' failure, attempts counted. */
  DEST_SFTP_INCOMPLETE: { kind: "transient", blame: "record", person: false },
  DEST_AMBIGUOUS_MATCH: { kind: "permanent", blame: "record", person: true },
  DEST_ID_MISMATCH: { kind: "permanent", blame: "record", person: true },
  DEST_NO_DELETE: { kind: "permanent", blame: "record", person: true },
  DEST_NO_ID: { kind: "permanent", blame: "record", person: true },
  DEST_NO_RESULT: { kind: "permanent", blame: "record", person: true },
  DEST_REJECTED: { kind: "permanent", blame: "record", person: true },
  DEST_TEMPLATE_EMPTY: { kind: "permanent", blame: "record", person: true },
  DEST_UNEXPECTED_ANSWER: { kind: "permanent", blame: "record", person: true },

  // One record read from a source: rejected and reported; the run goes on.
  DATA_BAD_DATE: { kind: "data", blame: "record", person: true },
  DATA_BAD_VALUE: { kind: "data", blame: "record", person: true },
  DATA_CSV_FIELD_COUNT: { kind: "data", blame: "record", person: true },
  DATA_CSV_UNKNOWN_RECORD_TYPE: { kind: "data", blame: "record", person: true },
  /** Reported as a rejected row's code, never thrown. */
  DATA_DUPLICATE_KEY: { kind: "data", blame: "record", person: true },
  DATA_FIXED_WIDTH_BAD_DATE: { kind: "data", blame: "record", person: true },
  DATA_FIXED_WIDTH_BAD_NUMBER: { kind: "data", blame: "record", person: true },
  DATA_FIXED_WIDTH_LONG_LINE: { kind: "data", blame: "record", person: true },
  DATA_FIXED_WIDTH_SHORT_LINE: { kind: "data", blame: "record", person: true },
  DATA_FIXED_WIDTH_UNKNOWN_RECORD_TYPE: { kind: "data", blame: "record", person: true },
  DATA_KEY_MISSING: { kind: "data", blame: "record", person: true },
  DATA_REQUIRED_MISSING: { kind: "data", blame: "record", person: true },
  DATA_SQL_VALUE_REFUSED: { kind: "data", blame: "record", person: true },

  // A source as a whole, for now: retried with backoff, or by the next run.
  SOURCE_SCRAPE_HTTP_UNAVAILABLE: { kind: "transient", blame: "source", person: false },
  SOURCE_SCRAPE_TIMEOUT: { kind: "transient", blame: "source", person: false },
  SOURCE_SCRAPE_UNREACHABLE: { kind: "transient", blame: "source", person: false },
  /** A file still being written when it was read: put back, nothing of it applied, taken again once complete. */
  SOURCE_FILE_CHANGED: { kind: "transient", blame: "source", person: false },
  SOURCE_SFTP_INCOMPLETE: { kind: "transient", blame: "source", person: false },
  SOURCE_UNAVAILABLE: { kind: "transient", blame: "source", person: false },

  // A source's file, page or query that cannot be taken: the run stops, nothing of it applied.
  MASS_DELETE_REFUSED: { kind: "fatal", blame: "source", person: true },
  SOURCE_CSV_AFTER_TRAILER: { kind: "fatal", blame: "source", person: true },
  SOURCE_CSV_BAD_TRAILER: { kind: "fatal", blame: "source", person: true },
  SOURCE_CSV_DUPLICATE_HEADER: { kind: "fatal", blame: "source", person: true },
  SOURCE_CSV_EMPTY: { kind: "fatal", blame: "source", person: true },
  SOURCE_CSV_MISSING_COLUMN: { kind: "fatal", blame: "source", person: true },
  SOURCE_CSV_NO_TRAILER: { kind: "fatal", blame: "source", person: true },
  SOURCE_CSV_RECORD_TOO_LARGE: { kind: "fatal", blame: "source", person: true },
  SOURCE_CSV_TRAILER_COUNT: { kind: "fatal", blame: "source", person: true },
  SOURCE_CSV_UNPARSABLE: { kind: "fatal", blame: "source", person: true },
  SOURCE_FILE_BAD_BYTE: { kind: "fatal", blame: "source", person: true },
  SOURCE_FILE_BOM_MISMATCH: { kind: "fatal", blame: "source", person: true },
  SOURCE_FILE_LINE_TOO_LONG: { kind: "fatal", blame: "source", person: true },
  SOURCE_FILE_NOT_FOUND: { kind: "fatal", blame: "source", person: true },
  SOURCE_FILE_NOT_UTF16: { kind: "fatal", blame: "source", person: true },
  SOURCE_FILE_NOT_UTF8: { kind: "fatal", blame: "source", person: true },
  SOURCE_FIXED_WIDTH_AFTER_TRAILER: { kind: "fatal", blame: "source", person: true },
  SOURCE_FIXED_WIDTH_BAD_TRAILER: { kind: "fatal", blame: "source", person: true },
  SOURCE_FIXED_WIDTH_NO_TRAILER: { kind: "fatal", blame: "source", person: true },
  SOURCE_FIXED_WIDTH_SECOND_TRAILER: { kind: "fatal", blame: "source", person: true },
  SOURCE_FIXED_WIDTH_TRAILER_COUNT: { kind: "fatal", blame: "source", person: true },
  SOURCE_SCRAPE_DOWNLOAD_FAILED: { kind: "fatal", blame: "source", person: false },
  SOURCE_SCRAPE_EMPTY_PAGE: { kind: "fatal", blame: "source", person: false },
  SOURCE_SCRAPE_EXPORT_NOT_CSV: { kind: "fatal", blame: "source", person: true },
  SOURCE_SCRAPE_FAILED: { kind: "fatal", blame: "source", person: true },
  SOURCE_SCRAPE_HTTP_ERROR: { kind: "fatal", blame: "source", person: true },
  SOURCE_SCRAPE_NO_DOWNLOAD: { kind: "fatal", blame: "source", person: true },
  SOURCE_SCRAPE_PAGE_LIMIT: { kind: "fatal", blame: "source", person: true },
  SOURCE_SCRAPE_REQUIRED_FIELD: { kind: "fatal", blame: "source", person: true },
  SOURCE_SCRAPE_SELECTOR_NOT_FOUND: { kind: "fatal", blame: "source", person: true },
  SOURCE_SCRAPE_SESSION_LOST: { kind: "fatal", blame: "source", person: true },
  SOURCE_SCRAPE_STEP_FAILED: { kind: "fatal", blame: "source", person: true },
  SOURCE_SQL_CURSOR_STUCK: { kind: "fatal", blame: "source", person: true },
  SOURCE_SQL_TOO_MANY_NULL_KEYS: { kind: "fatal", blame: "source", person: true },

  // An alert channel: its message is tried again (unavailable) or given up at once (refused), and logged.
  /** Unreachable, not answering in time, a 5xx, 408 or 429, an SMTP 4xx. */
  ALERT_CHANNEL_UNAVAILABLE: { kind: "transient", blame: "alert-channel", person: false },
  /** Any other 4xx, an SMTP 5xx or refused login: the channel's settings need a person. */
  ALERT_CHANNEL_REFUSED: { kind: "permanent", blame: "alert-channel", person: true },

  // Ferry itself.
  RUN_INTERRUPTED: { kind: "transient", blame: "ferry", person: false },
  /** Another process runs the job (it holds the job's run lease): this run did not start. */
  RUN_LEASE_HELD: { kind: "transient", blame: "ferry", person: false, exit: ExitCode.running },
  /** Another process took this run's lease over (this one had stopped heartbeating): the run stops. */
  RUN_LEASE_LOST: { kind: "transient", blame: "ferry", person: false },
  /** Another process delivers to the destination now (it holds the destination's delivery lease). */
  DELIVERY_LEASE_HELD: { kind: "transient", blame: "ferry", person: false },
  /** Another process took delivery to the destination over (this one had stopped heartbeating): it stops. */
  DELIVERY_LEASE_LOST: { kind: "transient", blame: "ferry", person: false },
  SOURCE_SCRAPE_BROWSER_FAILED: { kind: "transient", blame: "ferry", person: false },
  STATE_UNAVAILABLE: { kind: "transient", blame: "ferry", person: false },
  /** Another process of the cluster evaluates and sends the alerts now (it holds the lease `alerts`). */
  ALERT_LEASE_HELD: { kind: "transient", blame: "ferry", person: false },
  /** Another process took the lease `alerts` over (this one had stopped heartbeating): its evaluation stops. */
  ALERT_LEASE_LOST: { kind: "transient", blame: "ferry", person: false },
  RUN_ACCOUNTING_MISMATCH: { kind: "fatal", blame: "ferry", person: true },
  RUN_FAILED: { kind: "fatal", blame: "ferry", person: true },
} as const satisfies Record<string, ErrorCodeSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes declared for one class of error. */
export type CodeOf<K extends ErrorKind> = {
  [C in ErrorCode]: (typeof ERROR_CODES)[C]["kind"] extends K ? C : never;
}[ErrorCode];

export type ConfigCode = CodeOf<"config">;
export type TransientCode = CodeOf<"transient">;
export type DataCode = CodeOf<"data">;
export type PermanentCode = CodeOf<"permanent">;
export type FatalCode = CodeOf<"fatal">;

export interface ErrorOptions {
  cause?: unknown;
  /** Structured context safe to log: never secrets, never request headers. */
  details?: Record<string, unknown>;
}

export class FerryError extends Error {
  readonly code: ErrorCode;
  /** The code's class, from ERROR_CODES. */
  readonly kind: ErrorKind;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.kind = ERROR_CODES[code].kind;
    this.code = code;
    this.details = options.details ?? {};
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, kind: this.kind, message: this.message, ...this.details };
  }
}

/** What the error blames; undefined for anything thrown that is not a FerryError. */
export function blameOf(error: unknown): Blame | undefined {
  return error instanceof FerryError ? ERROR_CODES[error.code].blame : undefined;
}

/** Whether a person must act before trying again can help (false for anything that is not a FerryError). */
export function needsPerson(error: unknown): boolean {
  return error instanceof FerryError && ERROR_CODES[error.code].person;
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
  declare readonly code: ConfigCode;
  declare readonly kind: "config";
  readonly location: ConfigLocation | undefined;
  constructor(code: ConfigCode, message: string, location?: ConfigLocation, options: ErrorOptions = {}) {
    super(code, location ? `${formatLocation(location)}: ${message}` : message, {
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
  declare readonly code: TransientCode;
  declare readonly kind: "transient";
  readonly retryAfterMs: number | undefined;
  constructor(code: TransientCode, message: string, options: ErrorOptions & { retryAfterMs?: number } = {}) {
    super(code, message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

export class DataError extends FerryError {
  declare readonly code: DataCode;
  declare readonly kind: "data";
  constructor(code: DataCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}

export class PermanentError extends FerryError {
  declare readonly code: PermanentCode;
  declare readonly kind: "permanent";
  constructor(code: PermanentCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}

export class FatalError extends FerryError {
  declare readonly code: FatalCode;
  declare readonly kind: "fatal";
  constructor(code: FatalCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}

/**
 * The exit code of a command an error stopped, by the error's class. Only a configuration error is exit 2
 * and only a transient one (a system unreachable after retries) exit 4; any other class stopped the command
 * with nothing applied past the last commit (3). A code may name its own (`exit` in ERROR_CODES: 5 for
 * credentials a destination refuses, 6 for a job running elsewhere). Anything that is not a FerryError is
 * a bug (70).
 */
const EXIT_CODE_OF_KIND: Record<ErrorKind, ExitCode> = {
  config: ExitCode.config,
  transient: ExitCode.unavailable,
  fatal: ExitCode.refused,
  permanent: ExitCode.refused,
  data: ExitCode.refused,
};

function exitCodeOfCode(code: ErrorCode): ExitCode {
  const spec: ErrorCodeSpec = ERROR_CODES[code];
  return spec.exit ?? EXIT_CODE_OF_KIND[spec.kind];
}

export function exitCodeFor(error: unknown): ExitCode {
  return error instanceof FerryError ? exitCodeOfCode(error.code) : ExitCode.internal;
}

/** What a command did, as far as its exit code goes. */
export interface Outcome {
  /** A run's status (`ferry run`, `ferry plan`); none for a command that only delivers. */
  status?: "succeeded" | "partial" | "failed" | "refused";
  /** What stopped a failed run. */
  error?: unknown;
  /**
   * Delivery's tallies: `error` (and its `errorCode`) when delivery to a destination stopped with records
   * not sent, `pending` for records left in the outbox, `dead` for records dead-lettered.
   */
  delivery?: Iterable<{ error?: string; errorCode?: ErrorCode; dead: number; pending?: number }>;
  /** A file source's run: each file's own run (none for a duplicate); the exit code is the worst of them all. */
  files?: Iterable<Pick<Outcome, "status" | "error">>;
}

/** Exit codes from the least to the most serious: a command of several runs exits with its worst. */
const EXIT_SEVERITY: readonly ExitCode[] = [
  ExitCode.ok,
  ExitCode.partial,
  ExitCode.unavailable,
  ExitCode.credentials,
  ExitCode.running,
  ExitCode.refused,
  ExitCode.config,
  ExitCode.internal,
];

/** The most serious of some exit codes (0 for none). */
export function worstExitCode(codes: Iterable<ExitCode>): ExitCode {
  let worst: ExitCode = ExitCode.ok;
  for (const code of codes) if (EXIT_SEVERITY.indexOf(code) > EXIT_SEVERITY.indexOf(worst)) worst = code;
  return worst;
}

/**
 * The exit code of a run or a delivery: 3 refused by a guard; a failed run by its error's class
 * (exitCodeFor); 5 a destination refusing its credentials; 4 any other destination left with records
 * pending (down, rate limited, retries not yet due); 1 records rejected or dead-lettered; else 0. A file
 * source's run exits with the worst of that and each file's own (worstExitCode).
 */
export function exitCodeOf(outcome: Outcome): ExitCode {
  const files = [...(outcome.files ?? [])].map((f) => runExitCode(f));
  return worstExitCode([runExitCode(outcome), ...files]);
}

function runExitCode(outcome: Outcome): ExitCode {
  if (outcome.status === "refused") return ExitCode.refused;
  if (outcome.status === "failed") return exitCodeFor(outcome.error);
  const delivery = [...(outcome.delivery ?? [])];
  const stopped = delivery.filter((t) => t.error || (t.pending ?? 0) > 0);
  if (stopped.some((t) => t.errorCode && exitCodeOfCode(t.errorCode) === ExitCode.credentials)) return ExitCode.credentials;
  if (stopped.length > 0) return ExitCode.unavailable;
  if (outcome.status === "partial" || delivery.some((t) => t.dead > 0)) return ExitCode.partial;
  return ExitCode.ok;
}

/** A one-line description of any thrown value, for logs and run records. */
export function describeError(error: unknown): string {
  if (error instanceof FerryError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
