/**
 * Batch create of records HubSpot has no id for, with every property. Not idempotent: HubSpot's batch
 * endpoints take no idempotency key, so the lookup before it is what makes a retry safe. A record a
 * successful answer does not name (an answer that cannot be read, one missing a result) may have been
 * created all the same: it is looked up before anything is blamed, and one not found is undecided
 * (DEST_UNCONFIRMED), its answer kept for the dead-letter queue.
 */
import { TransientError } from "../../../errors.ts";
import { answerDetails, type HttpResponse } from "../../../http/http-client.ts";
import type { Answer, DeliveryItem } from "../../destination.ts";
import { type BatchResponse, failer, type HubSpotApi, objectPath, sendSplitting, toHubSpotProperties } from "../hubspot.api.ts";
import { lookupIds } from "./lookup.operation.ts";

/** A record a create's answer did not name, and that answer. */
interface Unconfirmed {
  item: DeliveryItem;
  res: HttpResponse<BatchResponse | undefined>;
}

export async function createBatch(
  api: HubSpotApi,
  object: string,
  property: string,
  creates: DeliveryItem[],
  answer: Answer,
  signal: AbortSignal,
): Promise<void> {
  const unconfirmed: Unconfirmed[] = [];
  const answers = new Map<readonly DeliveryItem[], HttpResponse<BatchResponse | undefined>>();
  await sendSplitting(
    creates,
    async (batch) => {
      const res = await api.client.request<BatchResponse | undefined>(
        {
          method: "POST",
          path: `${objectPath(object)}/batch/create`,
          json: { inputs: batch.map((i) => ({ properties: toHubSpotProperties(i.properties), associations: [] })) },
          idempotent: false,
        },
        signal,
      );
      answers.set(batch, res);
      return res.body;
    },
    (batch, body) => {
      const results = Array.isArray(body?.results) ? body.results : [];
      const ids = new Map(results.map((r) => [r.properties?.[property], r.id]));
      for (const item of batch) {
        const id = ids.get(item.match.value);
        if (id) answer({ outboxId: item.outboxId, ok: true, remoteId: id, action: "created" });
        else unconfirmed.push({ item, res: answers.get(batch)! });
      }
    },
    failer(answer),
  );
  await confirmCreated(api, object, property, unconfirmed, answer, signal);
}

/** Looks up the records a create's answer did not name: one found was created by it; one not found is undecided. */
async function confirmCreated(
  api: HubSpotApi,
  object: string,
  property: string,
  unconfirmed: Unconfirmed[],
  answer: Answer,
  signal: AbortSignal,
): Promise<void> {
  if (unconfirmed.length === 0) return;
  const found = await lookupIds(api, object, property, unconfirmed.map((u) => u.item.match.value), signal);
  for (const { item, res } of unconfirmed) {
    const id = found.get(item.match.value);
    if (id) answer({ outboxId: item.outboxId, ok: true, remoteId: id, action: "created" });
    else {
      const error = new TransientError(
        "DEST_UNCONFIRMED",
        `HubSpot answered ${res.status} to the create without ${property}=${item.match.value} in its answer, and a lookup does not find it`,
        { details: answerDetails(res) },
      );
      answer({ outboxId: item.outboxId, ok: false, error, request: { properties: toHubSpotProperties(item.properties) } });
    }
  }
}
