/** Read back (endpoints.read): the current values of records Ferry has pushed, for remote_edits. */
import type { Values } from "../../../engine/types.ts";
import { PermanentError } from "../../../errors.ts";
import type { DeliveryItem } from "../../destination.ts";
import { eachLimited, GONE, recordScope, type RestApi } from "../rest.api.ts";
import { valueAt } from "../rest.results.ts";
import { renderPath } from "../rest.template.ts";

/** Reads records back one GET each, `concurrency` at a time, for remote_edits; a 404 or 410 leaves the record out. */
export async function readRemote(api: RestApi, items: readonly DeliveryItem[], signal: AbortSignal): Promise<Map<number, Values>> {
  const read = api.config.endpoints.read!;
  const out = new Map<number, Values>();
  await eachLimited(items, api.config.concurrency, async (item) => {
    const path = renderPath(read.path, recordScope(item, item.remoteId), "endpoints.read.path");
    const res = await api.client.request({ method: "GET", path, idempotent: true, accept: GONE }, signal);
    if (GONE.includes(res.status)) return;
    const record = valueAt(res.body, read.result_path);
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      throw new PermanentError(
        "DEST_UNEXPECTED_ANSWER",
        `${api.name}'s answer to reading ${item.match.property}=${item.match.value} holds no record at ${read.result_path ?? "its top level"}: ` +
          "set endpoints.read.result_path to where the API puts the record",
      );
    }
    const fields = record as Record<string, unknown>;
    const values: Values = {};
    for (const p of item.changed) {
      const v = fields[p];
      if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") values[p] = v;
    }
    out.set(item.outboxId, values);
  });
  return out;
}
