/** Batch read by HubSpot id: the current values of records Ferry has pushed, for remote_edits. */
import type { Values } from "../../../engine/types.ts";
import type { DeliveryItem } from "../../destination.ts";
import { BATCH, type BatchResponse, type HubSpotApi, objectPath, post } from "../hubspot.api.ts";

/** The changed properties of records Ferry has pushed, read back by HubSpot id, 100 per request. */
export async function readRemote(api: HubSpotApi, items: readonly DeliveryItem[], signal: AbortSignal) {
  const out = new Map<number, Values>();
  for (const [object, group] of Map.groupBy(items, (i) => i.object)) {
    for (let n = 0; n < group.length; n += BATCH) {
      const slice = group.slice(n, n + BATCH);
      const res = await post<BatchResponse>(
        api,
        `${objectPath(object)}/batch/read`,
        {
          inputs: [...new Set(slice.map((i) => i.remoteId!))].map((id) => ({ id })),
          properties: [...new Set(slice.flatMap((i) => i.changed))],
          propertiesWithHistory: [],
        },
        true,
        signal,
      );
      const byId = new Map(res.results.map((r) => [r.id, r.properties]));
      for (const i of slice) {
        const found = byId.get(i.remoteId!);
        if (found) out.set(i.outboxId, Object.fromEntries(i.changed.map((p) => [p, found[p] ?? null])));
      }
    }
  }
  return out;
}
