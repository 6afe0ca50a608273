/**
 * Alert incidents (src/alerts/): one row per rule and subject while the rule's condition holds (a job
 * failing, a destination down), or per event for a one-shot rule (a run that opened too many conflicts, a
 * file that failed). What was sent of it is written by a conditional update (`claim`), so of several
 * evaluators only one sends each message, and none sends it again after a restart. Times are ISO 8601 UTC
 * text; `details` is JSON: the facts of the alert, and of its recovery once resolved.
 */
import type { Db } from "./store.ts";

/** What was sent of an incident (see migration 0010_alerts); null: nothing yet. */
export type IncidentSent = "alert" | "recovery" | "event" | "closed";

export interface IncidentDetails {
  /** The facts the alert tells. */
  alert: Record<string, unknown>;
  /** The facts the recovery tells, once the incident is resolved. */
  recovery?: Record<string, unknown>;
}

export interface Incident {
  id: number;
  rule: string;
  kind: string;
  subject: string;
  /** A one-shot rule's event (`run:12`, `file:7`); null for an incident that lasts while its condition holds. */
  event: string | null;
  opened_at: string;
  last_sent_at: string | null;
  resolved_at: string | null;
  sent: IncidentSent | null;
  details: IncidentDetails;
}

export interface IncidentOpening {
  rule: string;
  kind: string;
  subject: string;
  event?: string;
  at: string;
  details: IncidentDetails;
}

type Raw = Omit<Incident, "details"> & { details: string };

const fromRaw = (r: Raw): Incident => ({ ...r, id: Number(r.id), details: JSON.parse(r.details) as IncidentDetails });

const openKey = (rule: string, subject: string, event?: string) =>
  JSON.stringify(event === undefined ? [rule, subject] : [rule, subject, event]);

/**
 * Opens an incident; none when the rule already has one open for the subject (or, for an event, has ever
 * had that event). Returns its id, or null when it was there already.
 */
export async function openIncident(db: Db, o: IncidentOpening): Promise<number | null> {
  const rows = (await db("alert_incidents")
    .insert({
      rule: o.rule,
      kind: o.kind,
      subject: o.subject,
      event: o.event ?? null,
      open_key: openKey(o.rule, o.subject, o.event),
      opened_at: o.at,
      details: JSON.stringify(o.details),
    })
    .onConflict("open_key")
    .ignore()
    .returning("id")) as ({ id: number } | number)[];
  const row = rows[0];
  return row === undefined ? null : Number(typeof row === "object" ? row.id : row);
}

/** The incidents not resolved yet (one-shot events among them until their alert is sent). */
export async function openIncidents(db: Db): Promise<Incident[]> {
  return ((await db("alert_incidents").whereNull("resolved_at").orderBy("id")) as Raw[]).map(fromRaw);
}

/** Incidents with a message due: an alert not sent yet, or the recovery of one whose alert was sent. */
export async function incidentsToSend(db: Db): Promise<Incident[]> {
  const rows = (await db("alert_incidents")
    .where((q) => q.whereNull("sent").whereNull("resolved_at"))
    .orWhere((q) => q.where({ sent: "alert" }).whereNotNull("resolved_at"))
    .orderBy("id")) as Raw[];
  return rows.map(fromRaw);
}

/** Resolves an open incident with the facts of its recovery; false when it was resolved already. */
export async function resolveIncident(db: Db, incident: Incident, at: string, recovery: Record<string, unknown>): Promise<boolean> {
  const details: IncidentDetails = { ...incident.details, recovery };
  const changed = await db("alert_incidents")
    .where({ id: incident.id })
    .whereNull("resolved_at")
    .update({ resolved_at: at, open_key: null, details: JSON.stringify(details) });
  return Number(changed) === 1;
}

/**
 * Closes incidents without a message (their rule or subject left the configuration). An event keeps its
 * key, so that it is never sent later.
 */
export async function closeIncidents(db: Db, ids: readonly number[], at: string): Promise<void> {
  if (ids.length === 0) return;
  await db("alert_incidents").whereIn("id", ids).whereNull("event").update({ resolved_at: at, open_key: null, sent: "closed" });
  await db("alert_incidents").whereIn("id", ids).whereNotNull("event").update({ resolved_at: at, sent: "closed" });
}

/**
 * Takes the sending of an incident's next message, `to`, from what was sent before, `from`: true for the one
 * caller whose update changed the row. An alert is taken only while the incident is open; an event's alert
 * (`event`) also resolves it.
 */
export async function claimMessage(db: Db, id: number, from: IncidentSent | null, to: IncidentSent, at: string): Promise<boolean> {
  const q = db("alert_incidents").where({ id });
  if (from === null) q.whereNull("sent").whereNull("resolved_at");
  else q.where({ sent: from });
  if (to === "recovery") q.whereNotNull("resolved_at");
  const changed = await q.update({ sent: to, last_sent_at: at, ...(to === "event" ? { resolved_at: at } : {}) });
  return Number(changed) === 1;
}

export async function listIncidents(db: Db, filter: { rule?: string; limit?: number } = {}): Promise<Incident[]> {
  const q = db("alert_incidents").orderBy("id", "desc").limit(filter.limit ?? 100);
  if (filter.rule) q.where({ rule: filter.rule });
  return ((await q) as Raw[]).map(fromRaw);
}

/** A one-shot rule's cursor: the last id it has looked at; undefined before its first evaluation. */
export async function getAlertCursor(db: Db, rule: string): Promise<number | undefined> {
  const row = (await db("alert_cursors").where({ rule }).first("position")) as { position: number | string } | undefined;
  return row === undefined ? undefined : Number(row.position);
}

export async function setAlertCursor(db: Db, rule: string, position: number, at: string): Promise<void> {
  await db("alert_cursors").insert({ rule, position, updated_at: at }).onConflict("rule").merge(["position", "updated_at"]);
}
