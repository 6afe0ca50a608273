/**
 * HubSpot CRM v3 objects (contacts, companies, custom objects by name): batch create, update and archive,
 * 100 per request. HubSpot's batch endpoints take no idempotency key, so creates are made safe to retry by
 * looking records up by the mapping's unique match property first: a retried create finds the record the
 * first attempt made and updates it instead.
 */
import { type Auth, bearerAuth, OAuth2Auth } from "../../http/auth.ts";
import { destinationClient, timeoutOf } from "../../http/http.config.ts";
import type { Values } from "../../engine/types.ts";
import { blameOf, type FerryError, PermanentError, TransientError } from "../../errors.ts";
import {
  type Answer,
  type DeliveryItem,
  type Destination,
  type DestinationContext,
  type DestinationDefinition,
  destinationSecret,
  writeInGroups,
} from "../destination.ts";
import { type HubSpotDestinationConfig, hubspotDestinationSchema } from "./hubspot.config.ts";

const BATCH = 100;

interface SimplePublicObject {
  id: string;
  properties: Record<string, string | null>;
}
interface BatchResponse {
  results: SimplePublicObject[];
  errors?: { category: string; message: string; context?: Record<string, string[]> }[];
}

/** HubSpot stores every property as text; an empty string clears one. */
export function toHubSpotProperties(values: Values, only?: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of only ?? Object.keys(values)) {
    const v = values[name];
    if (v !== undefined) out[name] = v === null ? "" : String(v);
  }
  return out;
}

export function createHubSpotDestination(
  name: string,
  config: HubSpotDestinationConfig,
  context: DestinationContext,
): Destination {
  const auth = hubspotAuth(name, config, context);
  const client = destinationClient({
    name,
    api: "hubspot",
    settings: config,
    auth,
    log: context.log,
    client: {
      service: "HubSpot",
      baseUrl: config.base_url,
      messageOf: (body) => {
        const message = (body as { message?: unknown } | undefined)?.message;
        return typeof message === "string" ? message : undefined;
      },
    },
  });
  /** A batch call; `idempotent` false for creates, which a repeat would apply twice. */
  const post = async <T>(path: string, json: unknown, idempotent: boolean, signal: AbortSignal) =>
    (await client.request<T>({ method: "POST", path, json, idempotent }, signal)).body;
  const base = (object: string) => `/crm/v3/objects/${encodeURIComponent(object)}`;

  /** Finds records by a unique property; returns value -> id. */
  async function lookup(object: string, property: string, values: string[], signal: AbortSignal) {
    const found = new Map<string, string>();
    if (values.length === 0) return found;
    const res = await post<BatchResponse>(
      `${base(object)}/batch/read`,
      {
        idProperty: property,
        inputs: values.map((id) => ({ id })),
        properties: [property],
        propertiesWithHistory: [],
      },
      true,
      signal,
    );
    for (const r of res.results) {
      const v = r.properties[property];
      if (v !== null && v !== undefined) found.set(v, r.id);
    }
    return found;
  }

  /**
   * Sends one batch call; when HubSpot rejects the batch whole (400/409), splits it to find the records it
   * refuses so that the others still go through.
   */
  async function sendSplitting<T extends DeliveryItem>(
    items: T[],
    call: (items: T[]) => Promise<BatchResponse | undefined>,
    onDone: (items: T[], res: BatchResponse | undefined) => void,
    fail: (item: T, error: FerryError) => void,
  ): Promise<void> {
    if (items.length === 0) return;
    try {
      onDone(items, await call(items));
    } catch (e) {
      const error = e as FerryError;
      if (error instanceof PermanentError && blameOf(error) === "record" && items.length > 1) {
        const mid = Math.ceil(items.length / 2);
        await sendSplitting(items.slice(0, mid), call, onDone, fail);
        await sendSplitting(items.slice(mid), call, onDone, fail);
        return;
      }
      if (
        (error instanceof PermanentError && blameOf(error) === "destination") ||
        error instanceof TransientError
      )
        throw error;
      for (const i of items) fail(i, error);
    }
  }

  async function writeObject(
    object: string,
    items: DeliveryItem[],
    signal: AbortSignal,
    answer: Answer,
  ) {
    const property = items[0]!.match.property;
    const fail = (i: DeliveryItem, error: FerryError) =>
      answer({ outboxId: i.outboxId, ok: false, error });
    const unknown = items.filter((i) => !i.remoteId).map((i) => i.match.value);
    const found = await lookup(object, property, unknown, signal);
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

    const recreate: DeliveryItem[] = [];
    await sendSplitting(
      updates,
      async (batch) =>
        await post<BatchResponse>(
          `${base(object)}/batch/update`,
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
          if (missing.has(id)) recreate.push(i);
          else answer({ outboxId: i.outboxId, ok: true, remoteId: id, action: "updated" });
        }
      },
      fail,
    );
    // Records deleted in HubSpot since Ferry last pushed them: look them up again, else create them.
    if (recreate.length > 0) {
      const again = await lookup(
        object,
        property,
        recreate.map((i) => i.match.value),
        signal,
      );
      for (const i of recreate) {
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
    }

    await sendSplitting(
      creates,
      async (batch) =>
        await post<BatchResponse>(
          `${base(object)}/batch/create`,
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

    await sendSplitting(
      archives,
      async (batch) => {
        await post(`${base(object)}/batch/archive`, { inputs: batch.map((i) => ({ id: idOf(i)! })) }, true, signal);
        return undefined;
      },
      (batch) => {
        for (const i of batch)
          answer({ outboxId: i.outboxId, ok: true, remoteId: idOf(i), action: "deleted" });
      },
      fail,
    );
  }

  /** The changed properties of records Ferry has pushed, read back by HubSpot id, 100 per request. */
  async function readRemote(items: readonly DeliveryItem[], signal: AbortSignal) {
    const out = new Map<number, Values>();
    for (const [object, group] of Map.groupBy(items, (i) => i.object)) {
      for (let n = 0; n < group.length; n += BATCH) {
        const slice = group.slice(n, n + BATCH);
        const res = await post<BatchResponse>(
          `${base(object)}/batch/read`,
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

  return {
    name,
    maxBatchSize: BATCH,
    concurrency: config.concurrency,
    write: (items, signal) =>
      writeInGroups(name, items, (i) => `${i.object}\u0000${i.match.property}`, (group, answer) =>
        writeObject(group[0]!.object, group, signal, answer),
      ),
    readRemote,
    close: async () => client.close(),
  };
}

function hubspotAuth(name: string, config: HubSpotDestinationConfig, context: DestinationContext): Auth {
  const secret = (reference: string, field: string) => destinationSecret(context, name, field, reference);
  if (config.token) return bearerAuth(secret(config.token, "token"));
  const oauth = config.oauth!;
  const clientSecret = secret(oauth.client_secret, "oauth.client_secret");
  let refreshToken = secret(oauth.refresh_token, "oauth.refresh_token");
  return new OAuth2Auth({
    service: "HubSpot",
    tokenUrl: oauth.token_url ?? `${config.base_url.replace(/\/$/, "")}/oauth/v1/token`,
    id: `${oauth.client_id}:${refreshToken.reveal()}`,
    timeoutMs: timeoutOf(config),
    form: () => ({
      grant_type: "refresh_token",
      client_id: oauth.client_id,
      client_secret: clientSecret.reveal(),
      refresh_token: refreshToken.reveal(),
    }),
    onRefreshToken: (token) => (refreshToken = token),
  });
}

export const hubspotDestination: DestinationDefinition<HubSpotDestinationConfig> = {
  type: "hubspot",
  configSchema: hubspotDestinationSchema,
  create: createHubSpotDestination,
};
