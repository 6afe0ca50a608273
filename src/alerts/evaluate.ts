/**
 * One evaluation of the alert rules: each rule observes the state store (observe-*.ts), its plan (decide.ts)
 * opens, resolves and closes incidents, then every message due is sent: the alert of each incident not
 * sent yet, the recovery of each resolved one whose alert was sent. Each message is taken by a conditional
 * update of its incident before it is sent (`claimMessage`), so two evaluators never send the same one, and
 * none is sent again after a restart: a process that dies between taking a message and sending it loses that
 * message (at most once, never twice).
 */
import { ruleName } from "../config/alerts.check.ts";
import type { Project } from "../config/load.ts";
import type { AlertRule, AlertsConfig } from "../config/project.schema.ts";
import { describeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import {
  claimMessage,
  closeIncidents,
  getAlertCursor,
  type Incident,
  incidentsToSend,
  openIncident,
  openIncidents,
  resolveIncident,
  setAlertCursor,
} from "../state/alert-incidents.repo.ts";
import type { StateStore } from "../state/store.ts";
import type { Channel } from "./channels/channel.ts";
import { type RetrySettings, sendToChannel } from "./channels/send.ts";
import { type AlertEvent, type Observation, planStateful } from "./decide.ts";
import { alertMessage, type MessageContext } from "./message.ts";
import { observeDeadLetters, observeDestinationDown } from "./observe-destinations.ts";
import {
  type Events,
  observeConflicts,
  observeFailedFiles,
  observeJobLate,
  observeRunFailed,
  type ObserveContext,
  startingCursor,
} from "./observe-jobs.ts";

export interface Evaluation {
  project: Project;
  alerts: AlertsConfig;
  store: StateStore;
  log: Logger;
  channels: ReadonlyMap<string, Channel>;
  message: MessageContext;
  now: () => Date;
  watchingSince: Date;
  retry?: RetrySettings;
}

/** What one evaluation did: incidents opened and resolved, messages sent (to every channel of their rule, or not). */
export interface EvaluationReport {
  opened: number;
  resolved: number;
  /** Messages taken and sent (to at least one channel). */
  sent: number;
  /** Messages taken that no channel took. */
  failed: number;
}

const ONE_SHOT = new Set<AlertRule["when"]>(["conflicts_opened_above", "file_failed"]);

export async function evaluateAlerts(e: Evaluation, signal: AbortSignal): Promise<EvaluationReport> {
  const now = e.now();
  const ctx: ObserveContext = { project: e.project, db: e.store.knex, now, watchingSince: e.watchingSince };
  const report: EvaluationReport = { opened: 0, resolved: 0, sent: 0, failed: 0 };
  const open = await openIncidents(e.store.knex);
  for (const rule of e.alerts.rules) {
    if (signal.aborted) break;
    const mine = open.filter((i) => i.rule === ruleName(rule));
    try {
      if (ONE_SHOT.has(rule.when)) report.opened += await applyEvents(e, ctx, rule);
      else await applyPlan(e, ctx, rule, mine, report);
    } catch (error) {
      e.log.error({ rule: ruleName(rule), err: describeError(error) }, `alert rule ${ruleName(rule)} could not be evaluated; the others go on`);
    }
  }
  const configured = new Set(e.alerts.rules.map(ruleName));
  await closeIncidents(e.store.knex, open.filter((i) => !configured.has(i.rule)).map((i) => i.id), now.toISOString());
  if (!signal.aborted) await sendDue(e, signal, report);
  return report;
}

async function observe(ctx: ObserveContext, rule: AlertRule): Promise<Observation[]> {
  switch (rule.when) {
    case "run_failed":
      return observeRunFailed(ctx, rule);
    case "job_late":
      return observeJobLate(ctx, rule);
    case "destination_down":
      return observeDestinationDown(ctx, rule);
    case "dead_letters_above":
      return observeDeadLetters(ctx, rule);
    default:
      return [];
  }
}

/** A stateful rule: opens, resolves and closes its incidents as its subjects are now. */
async function applyPlan(e: Evaluation, ctx: ObserveContext, rule: AlertRule, open: Incident[], report: EvaluationReport) {
  const plan = planStateful(await observe(ctx, rule), open);
  const at = ctx.now.toISOString();
  const name = ruleName(rule);
  for (const o of plan.open) {
    const id = await openIncident(e.store.knex, { rule: name, kind: rule.when, subject: o.subject, at, details: { alert: o.facts } });
    if (id !== null) report.opened++;
  }
  for (const r of plan.resolve) if (await resolveIncident(e.store.knex, r.incident, at, r.facts)) report.resolved++;
  await closeIncidents(e.store.knex, plan.close.map((i) => i.id), at);
}

/** A one-shot rule: an incident for each event after its cursor; the first evaluation only places the cursor. */
async function applyEvents(e: Evaluation, ctx: ObserveContext, rule: AlertRule): Promise<number> {
  const name = ruleName(rule);
  const at = ctx.now.toISOString();
  const cursor = await getAlertCursor(e.store.knex, name);
  if (cursor === undefined) {
    await setAlertCursor(e.store.knex, name, await startingCursor(ctx, rule), at);
    return 0;
  }
  const found: Events = rule.when === "conflicts_opened_above" ? await observeConflicts(ctx, rule, cursor) : await observeFailedFiles(ctx, rule, cursor);
  let opened = 0;
  for (const event of found.events as AlertEvent[]) {
    const opening = { rule: name, kind: rule.when, subject: event.subject, event: event.event, at, details: { alert: event.facts } };
    const id = await openIncident(e.store.knex, opening);
    if (id !== null) opened++;
  }
  if (found.cursor !== cursor) await setAlertCursor(e.store.knex, name, found.cursor, at);
  return opened;
}

/** Messages sent at once, at most: a burst of incidents (a database down under many jobs) goes out in waves. */
const CONCURRENT_MESSAGES = 8;

/** Takes and sends every message due, to every channel of its rule. */
async function sendDue(e: Evaluation, signal: AbortSignal, report: EvaluationReport) {
  const rules = new Map(e.alerts.rules.map((r) => [ruleName(r), r]));
  const due = (await incidentsToSend(e.store.knex)).filter((i) => rules.has(i.rule));
  for (let i = 0; i < due.length && !signal.aborted; i += CONCURRENT_MESSAGES) {
    const wave = due.slice(i, i + CONCURRENT_MESSAGES);
    await Promise.all(wave.map((incident) => sendOne(e, signal, rules.get(incident.rule)!, incident, report)));
  }
}

async function sendOne(e: Evaluation, signal: AbortSignal, rule: AlertRule, incident: Incident, report: EvaluationReport) {
  const type = incident.sent === null ? "alert" : "recovery";
  const to = type === "recovery" ? "recovery" : incident.event === null ? "alert" : "event";
  const at = e.now().toISOString();
  if (signal.aborted) return;
  if (!(await claimMessage(e.store.knex, incident.id, incident.sent, to, at))) return;
  const taken = { ...incident, ...(to === "event" ? { resolved_at: at } : {}) };
  const message = alertMessage(e.message, taken, type);
  e.log.info({ rule: incident.rule, subject: incident.subject, message: type, channels: rule.channels }, `${type}: ${message.summary}`);
  const options = { log: e.log, signal, ...(e.retry ? { retry: e.retry } : {}) };
  const results = await Promise.all(rule.channels.map((name) => sendToChannel(e.channels.get(name)!, message, options)));
  if (results.some(Boolean)) report.sent++;
  else report.failed++;
}
