/** Upsert: a record created or updated by its key through endpoints.upsert, safe to retry by itself. */
import type { Answer, DeliveryItem, ItemResult } from "../../destination.ts";
import { ok, type RestApi, type Sent } from "../rest.api.ts";
import { sendBatch, sendOne } from "./send.ts";

export async function upsertOne(api: RestApi, item: DeliveryItem, sent: Sent, signal: AbortSignal): Promise<ItemResult> {
  const res = (await sendOne(api, "upsert", item, null, sent, signal))!;
  return ok(item, res.id ?? item.remoteId, res.status === 201 || item.remoteId === null ? "created" : "updated");
}

/** Batch mode: the records in batches, each with the API's id Ferry knows for it. */
export async function upsertMany(api: RestApi, writes: DeliveryItem[], answer: Answer, signal: AbortSignal): Promise<void> {
  await sendBatch(api, "upsert", writes.map((item) => ({ item, id: item.remoteId })), answer, [], signal);
}
