/**
 * Upsert by external ID through sObject Collections (allOrNone off: one bad record never fails the rest).
 * Safe to repeat: a retry after a lost answer updates the record the first attempt created. So an answer
 * that does not say what became of a record (not a list of results, or none for it) is undecided
 * (DEST_UNCONFIRMED): delivery sends the record again, and finds out whether it or Salesforce is to blame.
 */
import type { Values } from "../../../engine/types.ts";
import { TransientError } from "../../../errors.ts";
import { answerDetails } from "../../../http/http-client.ts";
import type { Answer, DeliveryItem } from "../../destination.ts";
import { recordError, type SalesforceApi, type SaveResult } from "../salesforce.api.ts";

export async function upsert(
  api: SalesforceApi,
  object: string,
  field: string,
  items: DeliveryItem[],
  signal: AbortSignal,
  answer: Answer,
): Promise<void> {
  const records = items.map((i) => {
    // A record Ferry has pushed before gets only what changed; otherwise every field.
    const names = i.remoteId && i.changed.length > 0 ? i.changed : Object.keys(i.properties);
    const fields: Values = {};
    for (const n of names) if (n !== field && i.properties[n] !== undefined) fields[n] = i.properties[n]!;
    return { attributes: { type: object }, ...fields, [field]: i.match.value };
  });
  const res = await api.client.request<SaveResult[]>(
    {
      method: "PATCH",
      path: `${api.data}/composite/sobjects/${encodeURIComponent(object)}/${encodeURIComponent(field)}`,
      json: { allOrNone: false, records },
    },
    signal,
  );
  const results = Array.isArray(res.body) ? res.body : [];
  items.forEach((item, n) => {
    const r = results[n] as SaveResult | undefined;
    if (r?.success && r.id) {
      answer({ outboxId: item.outboxId, ok: true, remoteId: r.id, action: r.created ? "created" : "updated" });
    } else {
      const error =
        r && Array.isArray(r.errors)
          ? recordError(r, object, item.key)
          : new TransientError("DEST_UNCONFIRMED", `Salesforce answered ${res.status} to the upsert without a result for ${object} ${item.key}`, {
              details: answerDetails(res),
            });
      answer({ outboxId: item.outboxId, ok: false, error, request: records[n] });
    }
  });
}
