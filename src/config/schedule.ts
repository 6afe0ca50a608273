/**
 * `schedule:` of a job: a cron expression, checked by node-cron's own parser, so that what the loader
 * accepts is exactly what `ferry serve` can schedule.
 */
import cron from "node-cron";

const SHAPE =
  "a cron expression is 5 fields, minute hour day-of-month month day-of-week, or 6 with seconds first: \"0 2 * * *\" is every night at 2:00";

/** Why `expression` is not a cron expression node-cron can schedule; undefined when it is one. */
export function cronProblem(expression: string): string | undefined {
  const check = cron.validateDetailed(expression);
  if (check.valid) return undefined;
  const reasons = check.errors.map((e) => (e.field === "expression" ? e.message : `${e.field} field: ${e.message}`));
  return `${JSON.stringify(expression)} is not a cron expression: ${reasons.join("; ") || "node-cron refuses it"}; ${SHAPE}`;
}

/** Whether `zone` is a time zone this Node.js knows (an IANA name such as Europe/Paris, or UTC). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The time zone a job's schedule is read in: its own `timezone`, else this host's. */
export const scheduleTimeZone = (timezone: string | undefined): string =>
  timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;

/** Whether a cron expression names seconds (6 fields): finer than a cluster's schedules fire. */
export const namesSeconds = (expression: string): boolean => expression.trim().split(/\s+/).length === 6;
