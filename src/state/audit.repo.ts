/** The append-only audit log of decisions: who, when, before, after. Rows are never updated or deleted. */
import type { Db } from "./store.ts";

export interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  entity?: string;
  key?: string;
  field?: string;
  before?: unknown;
  after?: unknown;
  details?: Record<string, unknown>;
}

export async function appendAudit(db: Db, e: AuditEntry) {
  await db("audit_log").insert({
    at: e.at,
    actor: e.actor,
    action: e.action,
    entity: e.entity ?? null,
    key: e.key ?? null,
    field: e.field ?? null,
    before: e.before === undefined ? null : JSON.stringify(e.before),
    after: e.after === undefined ? null : JSON.stringify(e.after),
    details: e.details ? JSON.stringify(e.details) : null,
  });
}

export async function listAudit(db: Db, filter: { entity?: string; key?: string; limit?: number; newestFirst?: boolean } = {}) {
  const q = db("audit_log")
    .select("*")
    .orderBy("id", filter.newestFirst ? "desc" : "asc")
    .limit(filter.limit ?? 1000);
  if (filter.entity) q.where({ entity: filter.entity });
  if (filter.key) q.where({ key: filter.key });
  return q;
}
