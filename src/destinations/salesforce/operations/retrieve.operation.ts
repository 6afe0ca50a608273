/** Retrieve by Salesforce Id through sObject Collections: the current values of records Ferry has pushed, for remote_edits. */
import type { Value, Values } from "../../../engine/types.ts";
import type { DeliveryItem } from "../../destination.ts";
import { BATCH, type SalesforceApi } from "../salesforce.api.ts";

/** The changed fields of records Ferry has pushed, read back by Salesforce Id through sObject Collections. */
export async function readRemote(api: SalesforceApi, items: readonly DeliveryItem[], signal: AbortSignal) {
  const out = new Map<number, Values>();
  for (const [object, group] of Map.groupBy(items, (i) => i.object)) {
    for (let n = 0; n < group.length; n += BATCH) {
      const slice = group.slice(n, n + BATCH);
      const fields = [...new Set(slice.flatMap((i) => i.changed))];
      const res = await api.client.request<(Record<string, unknown> | null)[]>(
        {
          method: "GET",
          path: `${api.data}/composite/sobjects/${encodeURIComponent(object)}`,
          query: { ids: [...new Set(slice.map((i) => i.remoteId!))].join(","), fields: fields.join(",") },
        },
        signal,
      );
      // Field names are case-insensitive in Salesforce; the answer spells them as the org does.
      const byId = new Map(
        res.body.flatMap((r) => (r ? [[String(r.Id), new Map(Object.entries(r).map(([k, v]) => [k.toLowerCase(), v]))] as const] : [])),
      );
      for (const i of slice) {
        const found = byId.get(i.remoteId!);
        if (found) out.set(i.outboxId, Object.fromEntries(i.changed.map((f) => [f, remoteValue(found.get(f.toLowerCase()))])));
      }
    }
  }
  return out;
}

/** A field's value as Salesforce returns it, as a Ferry value (compound fields, which Ferry does not write, as JSON text). */
function remoteValue(v: unknown): Value {
  if (v === undefined || v === null) return null;
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  return JSON.stringify(v);
}
