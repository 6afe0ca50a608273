/**
 * Create or update through endpoints.create and endpoints.update: a record Ferry has an id for (its own,
 * or the lookup's) is updated, the others created. An update that finds the record gone (deleted in the
 * API, or merged into another record) looks it up again: found under another id, it is updated there;
 * not found, it is created anew.
 */
import type { Answer, DeliveryItem, ItemResult } from "../../destination.ts";
import { type Entry, failed, noId, ok, type RestApi, type Sent, unconfirmed, updateMissesFound } from "../rest.api.ts";
import { lookupMany, lookupOne } from "./lookup.operation.ts";
import { sendBatch, sendOne } from "./send.ts";

/**
 * One create. An answer that names no id may come from a create applied all the same: with a lookup, the
 * record is looked for before anything is blamed (not found, it is undecided); without one, it fails.
 */
async function createOne(api: RestApi, item: DeliveryItem, sent: Sent, signal: AbortSignal): Promise<ItemResult> {
  const res = (await sendOne(api, "create", item, null, sent, signal))!;
  if (res.id !== null) return ok(item, res.id, "created");
  if (!api.config.endpoints.lookup) throw noId(api, item, "create", res.details);
  const found = await lookupOne(api, item, signal);
  if (found === null) throw unconfirmed(api, item, res.details);
  return ok(item, found, "created");
}

/** One record, two or three requests with a lookup. */
export async function createOrUpdate(api: RestApi, item: DeliveryItem, sent: Sent, signal: AbortSignal): Promise<ItemResult> {
  const lookup = api.config.endpoints.lookup;
  let id = item.remoteId;
  const known = id !== null;
  if (id === null && lookup) id = await lookupOne(api, item, signal);
  if (id === null) return await createOne(api, item, sent, signal);
  const res = await sendOne(api, "update", item, id, sent, signal);
  if (res) return ok(item, res.id ?? id, "updated");
  // Gone since Ferry last pushed it: deleted in the API, or merged into another record.
  const again = known && lookup ? await lookupOne(api, item, signal) : null;
  if (!known || again === id) throw updateMissesFound(api, item, id);
  if (again !== null) {
    const retried = await sendOne(api, "update", item, again, sent, signal);
    if (retried) return ok(item, retried.id ?? again, "updated");
    throw updateMissesFound(api, item, again);
  }
  return await createOne(api, item, sent, signal);
}

/** Batch mode: updates the records Ferry has an id for (its own, or the lookup's) and creates the others. */
export async function createOrUpdateMany(api: RestApi, writes: DeliveryItem[], answer: Answer, signal: AbortSignal): Promise<void> {
  const lookedUp = api.config.endpoints.lookup ? await lookupMany(api, writes.filter((i) => !i.remoteId), answer, signal) : null;
  const updates: Entry[] = [];
  const creates: Entry[] = [];
  for (const item of writes) {
    if (!item.remoteId && lookedUp && !lookedUp.has(item.outboxId)) continue; // its lookup failed: answered
    const id = item.remoteId ?? lookedUp?.get(item.outboxId) ?? null;
    (id === null ? creates : updates).push({ item, id });
  }
  const gone: Entry[] = [];
  await sendBatch(api, "update", updates, answer, gone, signal);
  // Gone since Ferry last pushed them: deleted in the API (created anew), or found again under another id.
  const again = lookedUp ? await lookupMany(api, gone.filter((e) => e.item.remoteId).map((e) => e.item), answer, signal) : null;
  const retry: Entry[] = [];
  for (const e of gone) {
    const id = again?.get(e.item.outboxId) ?? null;
    if (!e.item.remoteId || (id !== null && id === e.id)) answer(failed(e.item, updateMissesFound(api, e.item, e.id!), undefined));
    else if (again && !again.has(e.item.outboxId)) continue; // its lookup failed: answered
    else if (id !== null) retry.push({ item: e.item, id });
    else creates.push({ item: e.item, id: null });
  }
  const goneAgain: Entry[] = [];
  await sendBatch(api, "update", retry, answer, goneAgain, signal);
  for (const e of goneAgain) answer(failed(e.item, updateMissesFound(api, e.item, e.id!), undefined));
  await sendBatch(api, "create", creates, answer, [], signal);
}
