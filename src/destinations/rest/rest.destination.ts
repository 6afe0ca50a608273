/**
 * The generic `rest` destination: delivers outbox changes to any JSON REST API described in ferry.yaml
 * (rest.config.ts), one record per request or in batches.
 *
 * Creates are made safe to retry in one of three ways the configuration must choose: an upsert endpoint
 * (addressed by the record's key, safe by itself); a lookup by key before every create of a record Ferry
 * has no remote id for (a retried create finds what the first attempt made and updates it); or an
 * idempotency header the API deduplicates by (the same change always carries the same key; a batch's key is
 * a hash of its records' keys, in the order sent). A create is sent `idempotent: false`, so the HTTP client
 * never repeats it blindly: an answer lost on the way leaves the record pending for the next pass.
 *
 * write() never throws: when the API as a whole is unavailable, or refuses the credentials, every record not
 * answered yet gets that error as its result; the delivery layer keeps them pending without an attempt.
 */
import type { BackoffPolicy } from "../../http/backoff.ts";
import { destinationClient } from "../../http/http.config.ts";
import {
  type Answer,
  type DeliveryItem,
  type Destination,
  type DestinationContext,
  type DestinationDefinition,
  type ItemResult,
  secretsOf,
  writeInGroups,
} from "../destination.ts";
import { createOrUpdate, createOrUpdateMany } from "./operations/create-or-update.operation.ts";
import { deleteMany, deleteOne } from "./operations/delete.operation.ts";
import { readRemote } from "./operations/read.operation.ts";
import { upsertMany, upsertOne } from "./operations/upsert.operation.ts";
import { type RestApi, settle } from "./rest.api.ts";
import { restAuth } from "./rest.auth.ts";
import { DEFAULT_BATCH_SIZE, idempotencyHeaderOf, type RestDestinationConfig, restDestinationSchema } from "./rest.config.ts";
import { apiMessage } from "./rest.results.ts";

export { batchIdempotencyKey } from "./rest.api.ts";

/** Knobs of the HTTP client, for tests that must not wait through real backoff. */
export interface RestDestinationOptions {
  attempts?: number;
  backoff?: BackoffPolicy;
  random?: () => number;
}

/** The one place the `rest` destination reads its context and resolves its secrets. */
export function createRestDestination(
  name: string,
  config: RestDestinationConfig,
  context: DestinationContext,
  options: RestDestinationOptions = {},
): Destination {
  const secrets = secretsOf(context);
  const auth = restAuth(name, config, secrets.resolve);
  const origin = URL.canParse(config.base_url) ? new URL(config.base_url).origin : config.base_url;
  const client = destinationClient({
    name,
    api: `rest ${origin}`,
    settings: config,
    auth,
    log: context.log,
    client: { service: name, baseUrl: config.base_url, messageOf: apiMessage, credentialsAt: secrets.named(), ...options },
  });
  const api: RestApi = { name, config, client, idempotencyHeader: idempotencyHeaderOf(config) };
  const batchMode = config.mode === "batch";
  return {
    name,
    maxBatchSize: batchMode ? (config.max_batch_size ?? DEFAULT_BATCH_SIZE) : 1,
    concurrency: config.concurrency,
    // Records of one object share a batch request: its path and body may name the object.
    write: (items, signal) =>
      writeInGroups(
        name,
        items,
        (i) => (batchMode ? `${i.entity}\u0000${i.object}\u0000${i.match.property}` : String(i.outboxId)),
        async (group, answer) => (batchMode ? writeGroup(api, group, answer, signal) : answer(await writeOne(api, group[0]!, signal))),
      ),
    ...(config.endpoints.read ? { readRemote: (items, signal) => readRemote(api, items, signal) } : {}),
    // A batch's creates kept safe only by its idempotency key cannot be resent apart: a smaller batch carries
    // another key. Everything else is found again by its key or id.
    splittable: (item) =>
      !batchMode || item.op === "delete" || item.remoteId !== null || config.endpoints.upsert !== undefined || config.endpoints.lookup !== undefined,
    claimed: () => client.drainRateLimit(),
    close: async () => client.close(),
  };
}

/** One record, one request at a time (two or three with a lookup). Throws only what blames the API. */
function writeOne(api: RestApi, item: DeliveryItem, signal: AbortSignal): Promise<ItemResult> {
  return settle(item, (sent) => {
    if (item.op === "delete") return deleteOne(api, item, sent, signal);
    if (api.config.endpoints.upsert) return upsertOne(api, item, sent, signal);
    return createOrUpdate(api, item, sent, signal);
  });
}

/** One object's records in batch mode. */
async function writeGroup(api: RestApi, items: DeliveryItem[], answer: Answer, signal: AbortSignal): Promise<void> {
  const writes = items.filter((i) => i.op === "upsert");
  if (api.config.endpoints.upsert) await upsertMany(api, writes, answer, signal);
  else if (writes.length > 0) await createOrUpdateMany(api, writes, answer, signal);
  const deletes = items.filter((i) => i.op === "delete");
  if (deletes.length > 0) await deleteMany(api, deletes, answer, signal);
}

export const restDestination: DestinationDefinition<RestDestinationConfig> = {
  type: "rest",
  configSchema: restDestinationSchema,
  create: (name, config, context) => createRestDestination(name, config, context),
};
