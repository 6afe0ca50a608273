/**
 * Logging: pino JSON lines on stderr, with run, job and source bound by the caller. Record contents are not
 * logged; secrets are wrapped (config/secrets.ts) and the usual credential keys are redacted as well.
 */
import { pino } from "pino";

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

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = options.level ?? process.env.FERRY_LOG_LEVEL ?? "info";
  return pino(
    { level, redact: { paths: REDACT, censor: "[redacted]" }, base: undefined },
    options.destination ?? pino.destination(2),
  );
}

/** A logger that discards everything, for tests and pure callers. */
export const silentLogger: Logger = pino({ level: "silent" });
