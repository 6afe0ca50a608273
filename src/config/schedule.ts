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
