/**
 * The checks of ferry.yaml's `alerts:` that need more than its schema: each rule's channels are declared
 * under `alerts.channels`, its `jobs:` and `destinations:` are the project's, a `job_late` rule watches
 * scheduled jobs, and no two rules share a name (a rule's name keys its incidents in the state store).
 */
import { ConfigError, type ConfigLocation } from "../errors.ts";
import type { AlertRule, AlertsConfig } from "./project.schema.ts";

/** What the checks are given of the project besides its `alerts:`. */
export interface AlertsCheckContext {
  /** Every job file's name, valid or not (an invalid one is reported on its own). */
  jobs: readonly string[];
  /** The jobs that have a schedule (of the valid ones). */
  scheduled: ReadonlySet<string>;
  /** The jobs that are valid: only their schedules are known. */
  valid: ReadonlySet<string>;
  destinations: readonly string[];
  /** Where a field of ferry.yaml is: `at(["alerts", "rules", 0, "channels", 1])`. */
  at(path: readonly (string | number)[]): ConfigLocation;
}

/** A rule's name: its own, else its `when`. */
export const ruleName = (rule: AlertRule): string => rule.name ?? rule.when;

const list = (names: readonly string[]) => names.join(", ") || "(none)";

/** Every problem of `alerts:`, in the order of the rules. */
export function alertsProblems(alerts: AlertsConfig | undefined, context: AlertsCheckContext): ConfigError[] {
  if (!alerts) return [];
  const problems: ConfigError[] = [];
  const named = new Map<string, number>();
  const channels = Object.keys(alerts.channels);
  alerts.rules.forEach((rule, i) => {
    const at = (...path: (string | number)[]) => context.at(["alerts", "rules", i, ...path]);
    const name = ruleName(rule);
    const first = named.get(name);
    if (first !== undefined) {
      const message = `rules ${first + 1} and ${i + 1} are both named "${name}": give each its own \`name:\` (a rule's name keys its incidents)`;
      problems.push(new ConfigError("CONFIG_INVALID", message, at(rule.name === undefined ? "when" : "name")));
    } else named.set(name, i);
    rule.channels.forEach((channel, j) => {
      if (channels.includes(channel)) return;
      const message = `no channel named "${channel}" under alerts.channels: the channels are ${list(channels)}`;
      problems.push(new ConfigError("CONFIG_UNKNOWN_CHANNEL", message, at("channels", j)));
    });
    problems.push(...filterProblems(rule, context, at));
  });
  return problems;
}

/** The rule's `jobs:` and `destinations:` against the project's. */
function filterProblems(rule: AlertRule, context: AlertsCheckContext, at: (...path: (string | number)[]) => ConfigLocation): ConfigError[] {
  const problems: ConfigError[] = [];
  const jobs = "jobs" in rule ? (rule.jobs ?? []) : [];
  jobs.forEach((job, j) => {
    if (!context.jobs.includes(job)) {
      problems.push(new ConfigError("CONFIG_UNKNOWN_JOB", `no job named "${job}": the jobs are ${list(context.jobs)}`, at("jobs", j)));
    } else if (rule.when === "job_late" && context.valid.has(job) && !context.scheduled.has(job)) {
      problems.push(new ConfigError("CONFIG_INVALID", `job ${job} has no schedule: it cannot be late`, at("jobs", j)));
    }
  });
  const destinations = "destinations" in rule ? (rule.destinations ?? []) : [];
  destinations.forEach((destination, j) => {
    if (context.destinations.includes(destination)) return;
    const message = `no destination named "${destination}" in ferry.yaml: the destinations are ${list(context.destinations)}`;
    problems.push(new ConfigError("CONFIG_UNKNOWN_DESTINATION", message, at("destinations", j)));
  });
  return problems;
}
