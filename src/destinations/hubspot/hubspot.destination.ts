/**
 * HubSpot CRM v3 objects (contacts, companies, custom objects by name): batch create, update and archive,
 * 100 per request. HubSpot's batch endpoints take no idempotency key, so creates are made safe to retry by
 * looking records up by the mapping's unique match property first: a retried create finds the record the
 * first attempt made and updates it instead.
 */
import { destinationClient } from "../../http/http.config.ts";
import {
  type Answer,
  type DeliveryItem,
  type Destination,
  type DestinationContext,
  type DestinationDefinition,
  secretsOf,
  writeInGroups,
} from "../destination.ts";
import { apiMessage, BATCH, type HubSpotApi } from "./hubspot.api.ts";
import { hubspotAuth } from "./hubspot.auth.ts";
import { type HubSpotDestinationConfig, hubspotDestinationSchema } from "./hubspot.config.ts";
import { archiveBatch } from "./operations/archive.operation.ts";
import { createBatch } from "./operations/create.operation.ts";
import { lookupIds } from "./operations/lookup.operation.ts";
import { readRemote } from "./operations/read.operation.ts";
import { lookUpGone, updateBatch } from "./operations/update.operation.ts";

export { toHubSpotProperties } from "./hubspot.api.ts";

/** The one place the HubSpot destination reads its context and resolves its secrets. */
export function createHubSpotDestination(
  name: string,
  config: HubSpotDestinationConfig,
  context: DestinationContext,
): Destination {
  const secrets = secretsOf(context);
  const auth = hubspotAuth(config, secrets.resolve);
  const client = destinationClient({
    name,
    api: "hubspot",
    settings: config,
    auth,
    log: context.log,
    client: { service: "HubSpot", baseUrl: config.base_url, messageOf: apiMessage, credentialsAt: secrets.named() },
  });
  const api: HubSpotApi = { client };
  return {
    name,
    maxBatchSize: BATCH,
    concurrency: config.concurrency,
    write: (items, signal) =>
      writeInGroups(name, items, (i) => `${i.object}\u0000${i.match.property}`, (group, answer) =>
        writeObject(api, group[0]!.object, group, signal, answer),
      ),
    readRemote: (items, signal) => readRemote(api, items, signal),
    // Every write looks records up before creating them: a smaller batch finds what a failed one made.
    splittable: () => true,
    claimed: () => client.drainRateLimit(),
    close: async () => client.close(),
  };
}

/**
 * One object's records, all matched by the same property: looked up when Ferry has no id for them, then
 * updated, created and archived, a batch request each.
 */
async function writeObject(api: HubSpotApi, object: string, items: DeliveryItem[], signal: AbortSignal, answer: Answer) {
  const property = items[0]!.match.property;
  const unknown = items.filter((i) => !i.remoteId).map((i) => i.match.value);
  const found = await lookupIds(api, object, property, unknown, signal);
  const idOf = (i: DeliveryItem) => i.remoteId ?? found.get(i.match.value) ?? null;

  const creates: DeliveryItem[] = [];
  const updates: DeliveryItem[] = [];
  const archives: DeliveryItem[] = [];
  for (const i of items) {
    const id = idOf(i);
    if (i.op === "delete") {
      if (id) archives.push(i);
      else answer({ outboxId: i.outboxId, ok: true, remoteId: null, action: "absent" });
    } else if (id) updates.push(i);
    else creates.push(i);
  }

  const gone = await updateBatch(api, object, updates, idOf, answer, signal);
  // Records deleted in HubSpot since Ferry last pushed them: look them up again, else create them.
  if (gone.length > 0) creates.push(...(await lookUpGone(api, object, property, gone, answer, signal)));
  await createBatch(api, object, property, creates, answer, signal);
  await archiveBatch(api, object, archives, idOf, answer, signal);
}

export const hubspotDestination: DestinationDefinition<HubSpotDestinationConfig> = {
  type: "hubspot",
  configSchema: hubspotDestinationSchema,
  create: createHubSpotDestination,
};
