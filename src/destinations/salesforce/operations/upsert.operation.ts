/**
 * Upsert by external ID through sObject Collections (allOrNone off: one bad record never fails the rest).
 * Safe to repeat: a retry after a lost answer updates the record the first attempt created.
 */
import type { Values } from "../../../engine/types.ts";
import { PermanentError } from "../../../errors.ts";
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
  items.forEach((item, n) => {
    const r = res.body[n];
    if (r?.success && r.id) {
      answer({ outboxId: item.outboxId, ok: true, remoteId: r.id, action: r.created ? "created" : "updated" });
    } else {
      const error = r
        ? recordError(r, object, item.key)
        : new PermanentError("DEST_NO_RESULT", `Salesforce's answer had no result for ${object} ${item.key}`);
      answer({ outboxId: item.outboxId, ok: false, error, request: records[n] });
    }
  });
}
