/** Batch archive: HubSpot's delete, of records Ferry knows the id of. */
import type { Answer, DeliveryItem } from "../../destination.ts";
import { failer, type HubSpotApi, objectPath, post, sendSplitting } from "../hubspot.api.ts";

export async function archiveBatch(
  api: HubSpotApi,
  object: string,
  archives: DeliveryItem[],
  idOf: (i: DeliveryItem) => string | null,
  answer: Answer,
  signal: AbortSignal,
): Promise<void> {
  await sendSplitting(
    archives,
    async (batch) => {
      await post(api, `${objectPath(object)}/batch/archive`, { inputs: batch.map((i) => ({ id: idOf(i)! })) }, true, signal);
      return undefined;
    },
    (batch) => {
      for (const i of batch)
        answer({ outboxId: i.outboxId, ok: true, remoteId: idOf(i), action: "deleted" });
    },
    failer(answer),
  );
}
