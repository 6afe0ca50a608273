/**
 * Batch update of records HubSpot has an id for, and what becomes of those it no longer has (deleted in
 * HubSpot since Ferry last pushed them): found again by their property, or created anew.
 */
import { PermanentError } from "../../../errors.ts";
import type { Answer, DeliveryItem } from "../../destination.ts";
import { type BatchResponse, failer, type HubSpotApi, objectPath, post, sendSplitting, toHubSpotProperties } from "../hubspot.api.ts";
import { lookupIds } from "./lookup.operation.ts";

/** Updates the records by `idOf`; returns those HubSpot answered OBJECT_NOT_FOUND for, unanswered. */
export async function updateBatch(
  api: HubSpotApi,
  object: string,
  updates: DeliveryItem[],
  idOf: (i: DeliveryItem) => string | null,
  answer: Answer,
  signal: AbortSignal,
): Promise<DeliveryItem[]> {
  const gone: DeliveryItem[] = [];
  await sendSplitting(
    updates,
    async (batch) =>
      await post<BatchResponse>(
        api,
        `${objectPath(object)}/batch/update`,
        {
          inputs: batch.map((i) => ({
            id: idOf(i)!,
            // A record Ferry has not pushed before gets every property; afterwards, only what changed.
            properties: toHubSpotProperties(
              i.properties,
              i.remoteId && i.changed.length > 0 ? i.changed : undefined,
            ),
          })),
        },
        true,
        signal,
      ),
    (batch, res) => {
      const missing = new Set(
        (res?.errors ?? []).flatMap((e) =>
          e.category === "OBJECT_NOT_FOUND" ? (e.context?.ids ?? []) : [],
        ),
      );
      for (const i of batch) {
        const id = idOf(i)!;
        if (missing.has(id)) gone.push(i);
        else answer({ outboxId: i.outboxId, ok: true, remoteId: id, action: "updated" });
      }
    },
    failer(answer),
  );
  return gone;
}

/**
 * Looks records an update found gone up again: one now under another id fails (a merge in HubSpot, for a
 * person to check); the others are returned, without their old id, to be created.
 */
export async function lookUpGone(
  api: HubSpotApi,
  object: string,
  property: string,
  gone: DeliveryItem[],
  answer: Answer,
  signal: AbortSignal,
): Promise<DeliveryItem[]> {
  const creates: DeliveryItem[] = [];
  const again = await lookupIds(
    api,
    object,
    property,
    gone.map((i) => i.match.value),
    signal,
  );
  for (const i of gone) {
    const id = again.get(i.match.value);
    if (id)
      answer({
        outboxId: i.outboxId,
        ok: false,
        error: new PermanentError(
          "DEST_ID_MISMATCH",
          `HubSpot record ${i.remoteId} is gone but ${property}=${i.match.value} is now record ${id}; check for a merge in HubSpot`,
        ),
      });
    else creates.push({ ...i, remoteId: null });
  }
  return creates;
}
