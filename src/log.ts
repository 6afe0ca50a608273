/**
 * Logging: pino JSON lines on stderr, with run, job and source bound by the caller. Record contents are not
 * logged; secrets are wrapped (config/secrets.ts), the usual credential keys are redacted, and any secret
 * value that still reaches a line (an API echoing a token in an error) is replaced by `***`.
 */
import { pino } from "pino";
import { scrubSecrets } from "./config/secrets.ts";

export type Logger = pino.Logger;

const REDACT = [
  "token",
  "password",
  "secret",
  "authorization",
  "*.token",
  "*.password",
  "*.secret",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
];

export interface LoggerOptions {
  level?: string;
  destination?: NodeJS.WritableStream;
  /** A second stream with a level of its own (a run's lines kept in the state store: info, whatever stderr shows). */
  also?: { level: string; stream: NodeJS.WritableStream };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.FERRY_LOG_LEVEL ?? "info";
  // Synchronous: a line is on stderr when the call returns, so the CLI's own last words (`ferry serve:
  // stopped`) come after every log line. pino's asynchronous destination with `minLength: 0` calls a
  // flush back at once, even with writes still in flight, and a loaded pipe then showed them after.
  const stderr = options.destination ?? pino.destination({ dest: 2, sync: true });
  const settings = { redact: { paths: REDACT, censor: "[redacted]" }, base: undefined, hooks: { streamWrite: scrubSecrets } };
  if (!options.also) return pino({ ...settings, level }, stderr);
  const lowest = pino.levels.values[level]! <= pino.levels.values[options.also.level]! ? level : options.also.level;
  const streams = pino.multistream([
    { level: level as pino.Level, stream: stderr },
    { level: options.also.level as pino.Level, stream: options.also.stream },
  ]);
  return pino({ ...settings, level: lowest }, streams);
}

/** A logger that discards everything, for tests and pure callers. */
export const silentLogger: Logger = pino({ level: "silent" });
