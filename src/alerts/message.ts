/**
 * An alert's message, the same for every channel: the webhook sends it as JSON, Slack and email render it
 * as text. It says the project, the job or destination, what happened and when, the run id and error code
 * when there are, and the console page (`/runs/<id>`, relative, or under `alerts.console_url`). Pure.
 */
import { scrubSecrets } from "../config/secrets.ts";
import type { AlertKind } from "../config/project.schema.ts";
import type { Incident } from "../state/alert-incidents.repo.ts";
import type { AlertFacts } from "./decide.ts";

export interface AlertMessage {
  /** The shape's version: fields are only ever added to version 1. */
  version: 1;
  /** Unique per message and stable: `<incident>-alert`, `<incident>-recovery`; a receiver may drop a repeat. */
  id: string;
  type: "alert" | "recovery";
  project: string;
  rule: string;
  when: AlertKind;
  /** The job or destination it is about. */
  subject: string;
  job: string | null;
  destination: string | null;
  /** What happened (an alert) or what cleared it (a recovery), in one sentence. */
  summary: string;
  /** When it happened, or cleared (ISO 8601). */
  at: string;
  opened_at: string;
  resolved_at: string | null;
  /** A one-shot alert (a run's conflicts, a failed file): no recovery follows. */
  one_shot: boolean;
  run_id: number | null;
  error_code: string | null;
  /** The console page, relative: `/runs/12`. */
  console_path: string | null;
  /** The page's full address, when `alerts.console_url` is set. */
  console_url: string | null;
  /** Every fact the rule gathered (counts, thresholds, the file's name...). */
  details: AlertFacts;
}

export interface MessageContext {
  project: string;
  consoleUrl?: string | undefined;
}

/** The message of an incident's alert or recovery. Secrets this process holds are scrubbed from it. */
export function alertMessage(ctx: MessageContext, incident: Incident, type: "alert" | "recovery"): AlertMessage {
  const facts = ((type === "recovery" ? incident.details.recovery : undefined) ?? incident.details.alert) as AlertFacts;
  const opened = incident.details.alert as AlertFacts;
  const path = facts.console_path ?? opened.console_path ?? null;
  const message: AlertMessage = {
    version: 1,
    id: `${incident.id}-${type}`,
    type,
    project: ctx.project,
    rule: incident.rule,
    when: incident.kind as AlertKind,
    subject: incident.subject,
    job: facts.job ?? opened.job ?? null,
    destination: facts.destination ?? opened.destination ?? null,
    summary: facts.summary,
    at: facts.at,
    opened_at: incident.opened_at,
    resolved_at: incident.resolved_at,
    one_shot: incident.event !== null,
    run_id: facts.run_id ?? null,
    error_code: type === "alert" ? (facts.error_code ?? null) : null,
    console_path: path,
    console_url: path && ctx.consoleUrl ? `${ctx.consoleUrl.replace(/\/+$/, "")}${path}` : null,
    details: facts,
  };
  return JSON.parse(scrubSecrets(JSON.stringify(message))) as AlertMessage;
}

/** `job legacy`, `destination hubspot`. */
export const subjectOf = (m: AlertMessage): string => (m.destination ? `destination ${m.destination}` : `job ${m.job ?? m.subject}`);

/** `ALERT run_failed: job legacy`, `RECOVERED destination_down: destination crm`. */
export const titleOf = (m: AlertMessage): string => `${m.type === "alert" ? "ALERT" : "RECOVERED"} ${m.when}: ${subjectOf(m)}`;

/** A mail's subject: `[Ferry acme] ALERT run_failed: job legacy`. */
export const mailSubjectOf = (m: AlertMessage): string => `[Ferry ${m.project}] ${titleOf(m)}`;

/** The message's labelled lines (project, rule, run, error code, console...), those it has. */
export function factLines(m: AlertMessage): [string, string][] {
  const lines: [string, string | number | null][] = [
    ["Project", m.project],
    ["Rule", m.rule === m.when ? m.rule : `${m.rule} (${m.when})`],
    [m.destination ? "Destination" : "Job", m.destination ?? m.job ?? m.subject],
    [m.type === "alert" ? "At" : "Cleared at", m.at],
    ["Run", m.run_id],
    ["Error code", m.error_code],
    ["Console", m.console_url ?? m.console_path],
    ["Open since", m.type === "recovery" ? m.opened_at : null],
  ];
  return lines.filter((l): l is [string, string | number] => l[1] !== null && l[1] !== "").map(([k, v]) => [k, String(v)]);
}

/** The message as plain text: the summary, then its facts one per line. */
export function plainText(m: AlertMessage): string {
  const width = Math.max(...factLines(m).map(([k]) => k.length)) + 2;
  const facts = factLines(m).map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`);
  const after = m.one_shot ? ["", "No recovery message follows this alert: it is about one event."] : [];
  return [`${titleOf(m)}`, "", m.summary, "", ...facts, ...after, ""].join("\n");
}
