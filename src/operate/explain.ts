/** "Why does the CRM say this?": a golden record's fields with their provenance, every source's view, open
 * conflicts, and what was pushed where. */
import { listAudit } from "../state/audit.repo.ts";
import { listConflicts } from "../state/conflicts.repo.ts";
import { pushedForKey } from "../state/destination-records.repo.ts";
import { getGolden } from "../state/golden.repo.ts";
import { outboxForKey } from "../state/outbox.repo.ts";
import type { StateStore } from "../state/store.ts";

export async function explain(store: StateStore, entity: string, key: string, field?: string) {
  const db = store.knex;
  const record = await getGolden(db, entity, key);
  if (!record) return null;
  const snapshots = (await db("snapshots")
    .select("source", "vals", "source_time", "observed_at", "run_id")
    .where({ entity, key })) as {
    source: string;
    vals: string;
    source_time: string | null;
    observed_at: string;
    run_id: number;
  }[];
  const conflicts = (await listConflicts(db, { entity })).filter(
    (c) => c.key === key && (!field || c.field === field),
  );
  const pushed = (await pushedForKey(db, entity, key)) as {
    destination: string;
    remote_id: string | null;
    pushed: string;
    version: number;
    pushed_at: string;
  }[];
  const outbox = await outboxForKey(db, entity, key);
  const pick = <T extends Record<string, unknown>>(values: T): Partial<T> =>
    field ? ({ [field]: values[field] } as Partial<T>) : values;
  return {
    entity,
    key,
    version: record.version,
    status: record.status,
    fields: pick(record.fields),
    sources: snapshots.map((s) => ({
      source: s.source,
      values: pick(JSON.parse(s.vals) as Record<string, unknown>),
      sourceTime: s.source_time,
      observedAt: s.observed_at,
      run: s.run_id,
    })),
    conflicts,
    destinations: pushed.map((p) => ({
      destination: p.destination,
      remoteId: p.remote_id,
      version: p.version,
      pushedAt: p.pushed_at,
      pushed: pick(JSON.parse(p.pushed) as Record<string, unknown>),
    })),
    outbox: outbox.map((o) => ({
      id: o.id,
      destination: o.destination,
      version: o.version,
      op: o.op,
      status: o.status,
      attempts: o.attempts,
      error: o.last_error,
    })),
    audit: await listAudit(db, { entity, key }),
  };
}
