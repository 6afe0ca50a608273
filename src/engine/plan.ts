/**
 * plan: a golden record's change -> what each subscribed destination must receive. Only destinations
 * whose projection of the record actually changed get an intent, so a change to a field no destination
 * maps pushes nothing.
 */
import type { DestinationMapping } from "../config/mapping.schema.ts";
import type { GoldenRecord, OutboxIntent, Values } from "./types.ts";

export function project(record: GoldenRecord, d: DestinationMapping): Values {
  const out: Values = {};
  for (const [field, property] of Object.entries(d.fields))
    out[property] = record.fields[field]?.value ?? null;
  if (record.status === "archived" && d.archive_property)
    out[d.archive_property.property] = d.archive_property.value;
  return out;
}

export function plan(
  destinations: Record<string, DestinationMapping>,
  before: GoldenRecord | undefined,
  after: GoldenRecord,
): OutboxIntent[] {
  const intents: OutboxIntent[] = [];
  const existedBefore = before !== undefined && before.status !== "deleted";
  for (const [name, d] of Object.entries(destinations)) {
    if (after.status === "deleted") {
      if (existedBefore)
        intents.push({ destination: name, op: "delete", properties: project(after, d), changed: [] });
      continue;
    }
    const next = project(after, d);
    const prev = existedBefore ? project(before, d) : undefined;
    // A record back from the archive: clear the marker the archive set.
    if (before?.status === "archived" && after.status === "active" && d.archive_property) {
      next[d.archive_property.property] = null;
    }
    const changed = Object.keys(next).filter(
      (p) => prev === undefined || (prev[p] ?? null) !== (next[p] ?? null),
    );
    if (changed.length > 0) intents.push({ destination: name, op: "upsert", properties: next, changed });
  }
  return intents;
}
