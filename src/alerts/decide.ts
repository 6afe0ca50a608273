/**
 * What an evaluation does with what a rule observed: pure, over plain values. A stateful rule (a job
 * failing, a destination down) observes each of its subjects as `bad`, `good` or `unknown` (nothing to
 * say either way); an incident opens for a bad subject that has none open, resolves (its recovery sent)
 * when its subject is good again, and closes without a message when its subject is no longer watched.
 * A one-shot rule observes events (a run, a file): each opens an incident of its own, once.
 */
import type { Incident } from "../state/alert-incidents.repo.ts";

/**
 * What a message tells of an incident, or of its recovery: kept in the incident's details. `summary` says
 * what happened in one sentence (without the project, which the message adds).
 */
export interface AlertFacts {
  summary: string;
  /** When it happened (ISO 8601). */
  at: string;
  job?: string;
  destination?: string;
  run_id?: number | null;
  error_code?: string | null;
  /** The console page that shows it, relative: `/runs/12`. */
  console_path?: string | null;
  [more: string]: unknown;
}

/** A subject of a stateful rule as an evaluation found it. */
export type Observation =
  | { subject: string; state: "bad" | "good"; facts: AlertFacts }
  /** Neither: a job that never succeeded, watched for too short a time to call it late. */
  | { subject: string; state: "unknown" };

/** An event of a one-shot rule: `event` names it among its subject's (`run:12`, `file:7`). */
export interface AlertEvent {
  subject: string;
  event: string;
  facts: AlertFacts;
}

export interface Plan {
  open: { subject: string; facts: AlertFacts }[];
  resolve: { incident: Incident; facts: AlertFacts }[];
  /** Closed without a message: their subject is no longer watched. */
  close: Incident[];
}

/** What a stateful rule's observations mean for its open incidents (`open`: this rule's only). */
export function planStateful(observations: readonly Observation[], open: readonly Incident[]): Plan {
  const observed = new Map(observations.map((o) => [o.subject, o]));
  const opened = new Set(open.map((i) => i.subject));
  const plan: Plan = { open: [], resolve: [], close: [] };
  for (const o of observations) {
    if (o.state === "bad" && !opened.has(o.subject)) plan.open.push({ subject: o.subject, facts: o.facts });
  }
  for (const incident of open) {
    const o = observed.get(incident.subject);
    if (!o) plan.close.push(incident);
    else if (o.state === "good") plan.resolve.push({ incident, facts: o.facts });
  }
  return plan;
}

/** The code at the head of an error as the state store keeps it (`SOURCE_SQL_QUERY_FAILED: ...`), or null. */
export function errorCodeOf(error: string | null | undefined): string | null {
  return /^([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+):/.exec(error ?? "")?.[1] ?? null;
}

/** Text kept short enough for a message line. */
export function clip(text: string, max = 500): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
