/**
 * Edits made in a destination (DESIGN.md, three-way). With `remote_edits: conflict` or `destination_wins`,
 * delivery reads a record's changed fields back before updating it and compares each with what Ferry last
 * pushed there. A field that differs both from that and from what Ferry is about to send was changed by a
 * person: the update leaves it alone. Under `conflict` a conflict opens on the golden field with the
 * destination's value as a candidate (source `destination:<name>`), and the field stays out of updates to
 * that destination until an operator settles it; under `destination_wins` the audit log records the
 * decision. Either way the value read becomes the baseline, so one edit is acted on once.
 */
import type { Project } from "../config/load.ts";
import { destinationSource } from "../engine/merge.ts";
import type { ConflictChange, OpenConflict, Value, Values } from "../engine/types.ts";
import type { DeliveryItem, Destination, ItemResult } from "../destinations/destination.ts";
import { appendAudit } from "../state/audit.repo.ts";
import { applyConflictChanges, loadOpenConflicts } from "../state/conflicts.repo.ts";
import { loadGolden, markConflicted } from "../state/golden.repo.ts";
import { loadPushed, rememberRemoteValues } from "../state/outbox.repo.ts";
import type { StateStore } from "../state/store.ts";
import type { RemoteEdits } from "./delivery.config.ts";

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T/;

/**
 * Whether a value read from a destination is the value Ferry holds. APIs give values back in their own
 * spelling (HubSpot as text, "" for empty), so equal numbers, booleans, instants, and empty text and null
 * count as the same; text otherwise compares exactly.
 */
export function sameValue(a: Value | undefined, b: Value | undefined): boolean {
  const text = (v: Value | undefined) => (v === null || v === undefined ? "" : String(v));
  const x = text(a);
  const y = text(b);
  if (x === y) return true;
  if (NUMBER.test(x) && NUMBER.test(y)) return Number(x) === Number(y);
  if (ISO_TIME.test(x) && ISO_TIME.test(y)) {
    const [tx, ty] = [Date.parse(x), Date.parse(y)];
    return !Number.isNaN(tx) && tx === ty;
  }
  return false;
}

/**
 * The properties of an update that a person changed in the destination: the destination's value differs
 * from what Ferry last pushed (`baseline`) and from what it is about to send. A property Ferry never
 * pushed, or the destination did not return, is not an edit.
 */
export function editedProperties(item: Pick<DeliveryItem, "changed" | "properties">, baseline: Values, remote: Values): string[] {
  return item.changed.filter(
    (p) =>
      p in remote &&
      p in baseline &&
      !sameValue(remote[p], baseline[p]) &&
      !sameValue(remote[p], item.properties[p]),
  );
}

export interface GuardedItems {
  /** Items to send, with the fields left alone taken out of `changed` (and the destination's values in `properties`). */
  send: DeliveryItem[];
  /** Results of items with nothing left to send. */
  kept: ItemResult[];
  /** For items sent without some fields: the properties to record as pushed (the destination's values for those). */
  pushed: Map<number, Values>;
  /** Fields left alone. */
  withheld: number;
}

export interface RemoteEditsContext {
  project: Project;
  store: StateStore;
  destination: Destination;
  mode: RemoteEdits;
  now: () => Date;
}

/** Reads the records about to be updated back from the destination and takes out of each update what a person changed there. */
export async function guardRemoteEdits(
  context: RemoteEditsContext,
  items: readonly DeliveryItem[],
  signal: AbortSignal,
): Promise<GuardedItems> {
  const { project, store, destination: d, mode } = context;
  const out: GuardedItems = { send: [...items], kept: [], pushed: new Map(), withheld: 0 };
  const updates = items.filter((i) => i.op === "upsert" && i.remoteId !== null && i.changed.length > 0);
  if (mode === "overwrite" || !d.readRemote || updates.length === 0) return out;

  const remote = await d.readRemote(updates, signal);
  const source = destinationSource(d.name);
  const at = context.now().toISOString();
  const changed = new Map<number, DeliveryItem>();

  await store.knex.transaction(async (tx) => {
    for (const [entity, group] of Map.groupBy(updates, (i) => i.entity)) {
      const keys = group.map((i) => i.key);
      const baselines = await loadPushed(tx, d.name, entity, keys);
      const conflicts = await loadOpenConflicts(tx, entity, keys);
      const fieldOf = new Map(
        Object.entries(project.mappings.get(entity)!.config.destinations[d.name]!.fields).map(([field, property]) => [property, field]),
      );
      const opening = group.filter((i) => remote.has(i.outboxId));
      const golden = mode === "conflict" ? await loadGolden(tx, entity, opening.map((i) => i.key)) : new Map();

      for (const item of opening) {
        const values = remote.get(item.outboxId)!;
        const ours = new Map<string, OpenConflict>();
        for (const c of conflicts.get(item.key) ?? []) if (c.candidates.some((x) => x.source === source)) ours.set(c.field, c);
        const edited = new Set(editedProperties(item, baselines.get(item.key) ?? {}, values));
        const leave: Values = {};
        const changes: ConflictChange[] = [];

        for (const property of item.changed) {
          const field = fieldOf.get(property);
          const value = values[property];
          if (field === undefined || value === undefined) continue;
          const open = ours.get(field);
          if (open) {
            // The field waits for an operator: leave it alone, and keep the conflict's view of the destination current.
            if (sameValue(value, item.properties[property])) {
              changes.push({ type: "close", id: open.id, field, reason: `${d.name} now holds the golden value` });
              await markConflicted(tx, entity, item.key, field, false);
              continue;
            }
            leave[property] = value;
            const candidates = open.candidates.map((c) => (c.source === source ? { ...c, value, observedAt: at } : c));
            if (!candidates.every((c, n) => c.value === open.candidates[n]!.value)) {
              const g = (await loadGolden(tx, entity, [item.key])).get(item.key)?.fields[field];
              changes.push({ type: "update", id: open.id, field, current: { value: g?.value ?? null, source: g?.source ?? "" }, candidates });
            }
            continue;
          }
          if (!edited.has(property)) continue;
          leave[property] = value;
          if (mode === "conflict") {
            const g = golden.get(item.key)?.fields[field];
            changes.push({
              type: "open",
              field,
              current: { value: g?.value ?? item.properties[property] ?? null, source: g?.source ?? "ferry" },
              candidates: [{ source, value, sourceTime: null, observedAt: at }],
            });
            await markConflicted(tx, entity, item.key, field, true);
          } else {
            await appendAudit(tx, {
              at,
              actor: "ferry",
              action: "remote_edit.kept",
              entity,
              key: item.key,
              field,
              before: item.properties[property] ?? null,
              after: value,
              details: { destination: d.name, property, rule: "destination_wins" },
            });
          }
        }

        await applyConflictChanges(tx, entity, item.key, null, at, changes);
        const left = Object.keys(leave);
        if (left.length === 0) continue;
        out.withheld += left.length;
        await rememberRemoteValues(tx, d.name, entity, item.key, leave, at);
        const properties = { ...item.properties, ...leave };
        const rest = item.changed.filter((p) => !(p in leave));
        changed.set(item.outboxId, { ...item, properties, changed: rest });
        out.pushed.set(item.outboxId, properties);
      }
    }
  });

  out.send = [];
  for (const item of items) {
    const guarded = changed.get(item.outboxId);
    if (!guarded) out.send.push(item);
    else if (guarded.changed.length > 0) out.send.push(guarded);
    else out.kept.push({ outboxId: item.outboxId, ok: true, remoteId: item.remoteId, action: "kept" });
  }
  return out;
}
