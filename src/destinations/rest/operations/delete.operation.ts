/**
 * Delete through endpoints.delete: a record the API no longer has (404/410, or no remote id to address
 * it by, even after a lookup) counts as deleted already (`absent`). In batch mode, a delete is batched
 * only when its body holds {{records}}; otherwise each record has a request of its own.
 */
import { PermanentError } from "../../../errors.ts";
import type { Answer, DeliveryItem, ItemResult } from "../../destination.ts";
import { eachLimited, type Entry, failed, ok, type RestApi, type Sent, settle } from "../rest.api.ts";
import { isBatchEndpoint } from "../rest.config.ts";
import { uses } from "../rest.template.ts";
import { lookupMany, lookupOne } from "./lookup.operation.ts";
import { sendBatch, sendOne } from "./send.ts";

export async function deleteOne(api: RestApi, item: DeliveryItem, sent: Sent, signal: AbortSignal): Promise<ItemResult> {
  const endpoints = api.config.endpoints;
  const d = endpoints.delete;
  if (!d) {
    return failed(item, new PermanentError(
      "DEST_NO_DELETE",
      `${api.name} has no delete endpoint: give endpoints.delete in ferry.yaml, or stop deleting ${item.entity} records at their source`,
    ), undefined);
  }
  let id = item.remoteId;
  const needsId = uses(d.path, "remote_id") || uses(d.body, "remote_id");
  if (needsId && id === null && endpoints.lookup) id = await lookupOne(api, item, signal);
  if (needsId && id === null) return ok(item, null, "absent");
  const res = await sendOne(api, "delete", item, id, sent, signal);
  return res ? ok(item, id, "deleted") : ok(item, null, "absent");
}

/** Batch mode's deletes: one request for them all when the endpoint takes {{records}}, else one each, `concurrency` at a time. */
export async function deleteMany(api: RestApi, deletes: DeliveryItem[], answer: Answer, signal: AbortSignal): Promise<void> {
  const { config } = api;
  const d = config.endpoints.delete;
  if (!d || !isBatchEndpoint(config, "delete")) {
    const deleteSettled = (item: DeliveryItem) => settle(item, (sent) => deleteOne(api, item, sent, signal));
    await eachLimited(deletes, config.concurrency, async (item) => answer(await deleteSettled(item)));
    return;
  }
  const needsId = uses(d.path, "remote_id") || uses(d.body, "remote_id") || uses(d.record_body, "remote_id");
  const unknown = deletes.filter((i) => !i.remoteId);
  const lookedUp = needsId && config.endpoints.lookup ? await lookupMany(api, unknown, answer, signal) : null;
  const batch: Entry[] = [];
  for (const item of deletes) {
    if (!item.remoteId && lookedUp && !lookedUp.has(item.outboxId)) continue; // its lookup failed: answered
    const id = item.remoteId ?? lookedUp?.get(item.outboxId) ?? null;
    if (needsId && id === null) answer(ok(item, null, "absent"));
    else batch.push({ item, id });
  }
  await sendBatch(api, "delete", batch, answer, [], signal);
}
