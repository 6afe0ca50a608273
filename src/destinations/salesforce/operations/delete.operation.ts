/**
 * Delete by Salesforce Id through sObject Collections, the Id found by a query on the external ID when
 * Ferry does not know it. A record already gone (not found, or deleted) counts as `absent`.
 */
import { PermanentError } from "../../../errors.ts";
import type { Answer, DeliveryItem } from "../../destination.ts";
import { recordError, type SalesforceApi, type SaveResult } from "../salesforce.api.ts";
import { lookupIds } from "./query.operation.ts";

export async function remove(
  api: SalesforceApi,
  object: string,
  field: string,
  items: DeliveryItem[],
  signal: AbortSignal,
  answer: Answer,
): Promise<void> {
  const unknown = items.filter((i) => !i.remoteId).map((i) => i.match.value);
  const found = unknown.length > 0 ? await lookupIds(api, object, field, unknown, signal) : new Map<string, string>();
  const targets: { item: DeliveryItem; id: string }[] = [];
  for (const item of items) {
    const id = item.remoteId ?? found.get(item.match.value);
    if (id) targets.push({ item, id });
    else answer({ outboxId: item.outboxId, ok: true, remoteId: null, action: "absent" });
  }
  if (targets.length === 0) return;
  const res = await api.client.request<SaveResult[]>(
    { method: "DELETE", path: `${api.data}/composite/sobjects`, query: { ids: targets.map((t) => t.id).join(","), allOrNone: "false" } },
    signal,
  );
  targets.forEach(({ item, id }, n) => {
    const r = res.body[n];
    const code = r?.errors[0]?.statusCode;
    if (r?.success || code === "ENTITY_IS_DELETED" || code === "INVALID_CROSS_REFERENCE_KEY") {
      answer({ outboxId: item.outboxId, ok: true, remoteId: id, action: r?.success ? "deleted" : "absent" });
    } else {
      const error = r ? recordError(r, object, item.key) : new PermanentError("DEST_NO_RESULT", `Salesforce's answer had no result for ${id}`);
      answer({ outboxId: item.outboxId, ok: false, error, request: { id } });
    }
  });
}
