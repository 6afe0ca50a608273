/**
 * Batch create of records HubSpot has no id for, with every property. Not idempotent: HubSpot's batch
 * endpoints take no idempotency key, so the lookup before it is what makes a retry safe.
 */
import { PermanentError } from "../../../errors.ts";
import type { Answer, DeliveryItem } from "../../destination.ts";
import { type BatchResponse, failer, type HubSpotApi, objectPath, post, sendSplitting, toHubSpotProperties } from "../hubspot.api.ts";

export async function createBatch(
  api: HubSpotApi,
  object: string,
  property: string,
  creates: DeliveryItem[],
  answer: Answer,
  signal: AbortSignal,
): Promise<void> {
  const fail = failer(answer);
  await sendSplitting(
    creates,
    async (batch) =>
      await post<BatchResponse>(
        api,
        `${objectPath(object)}/batch/create`,
        { inputs: batch.map((i) => ({ properties: toHubSpotProperties(i.properties), associations: [] })) },
        false,
        signal,
      ),
    (batch, res) => {
      const ids = new Map((res?.results ?? []).map((r) => [r.properties[property], r.id]));
      for (const i of batch) {
        const id = ids.get(i.match.value);
        if (id) answer({ outboxId: i.outboxId, ok: true, remoteId: id, action: "created" });
        else
          fail(
            i,
            new PermanentError(
              "DEST_NO_RESULT",
              `HubSpot's answer to the create did not include ${property}=${i.match.value}`,
            ),
          );
      }
    },
    fail,
  );
}
