/**
 * What the `rest` destination's operations share: the API they talk to (its client and the configuration
 * describing it), and the pieces every operation builds on: one request to an endpoint, a record's
 * template scope, its results and the errors it can end with.
 */
import { hash } from "node:crypto";
import { trimBody } from "../../http/exchange.ts";
import { type answerDetails, type HttpClient, type HttpResponse } from "../../http/http-client.ts";
import { FerryError, PermanentError, TransientError } from "../../errors.ts";
import { blamesDestination, type DeliveryItem, type ItemResult } from "../destination.ts";
import type { EndpointKind, RestDestinationConfig } from "./rest.config.ts";
import type { Scope } from "./rest.template.ts";

/** One `rest` destination's API, as every operation reaches it; made once by the destination's factory. */
export interface RestApi {
  /** The destination's name, for messages. */
  readonly name: string;
  readonly config: RestDestinationConfig;
  readonly client: HttpClient;
  /** The header carrying idempotency keys on creates and upserts, or null for none. */
  readonly idempotencyHeader: string | null;
}

/** A batch the API refuses whole with one of these is split in halves to isolate the records it refuses. */
export const SPLIT = new Set([400, 409, 413, 422]);
export const GONE = [404, 410];

/** A record on its way, with the API's id for it when known. */
export interface Entry {
  item: DeliveryItem;
  id: string | null;
}

/** The body of the request in flight, for the failure result. */
export interface Sent {
  body: unknown;
}

/** What a successful write did; an upsert of a record Ferry has no id for is taken as a create. */
export const actionOf = (kind: EndpointKind, item: DeliveryItem) =>
  kind === "delete" ? "deleted" : kind === "update" || (kind === "upsert" && item.remoteId) ? "updated" : "created";

export const statusOf = (e: unknown) => (e instanceof FerryError ? (e.details as { status?: number }).status : undefined);

export const ok = (item: DeliveryItem, remoteId: string | null, action: "created" | "updated" | "deleted" | "absent"): ItemResult => ({
  outboxId: item.outboxId,
  ok: true,
  remoteId,
  action,
});

export const failed = (item: DeliveryItem, error: FerryError, request: unknown): ItemResult => ({
  outboxId: item.outboxId,
  ok: false,
  error,
  ...(request === undefined ? {} : { request }),
});

/** Runs one record's operation; what it throws that does not blame the API becomes the record's failure. */
export async function settle(item: DeliveryItem, operation: (sent: Sent) => Promise<ItemResult>): Promise<ItemResult> {
  const sent: Sent = { body: undefined };
  try {
    return await operation(sent);
  } catch (e) {
    if (blamesDestination(e)) throw e;
    return failed(item, e as FerryError, sent.body);
  }
}

/** One request to an endpoint. Only a create is not idempotent: a lookup is a read, even as a POST. */
export async function call(
  api: RestApi,
  kind: EndpointKind | "lookup",
  path: string,
  json: unknown,
  headers: Record<string, string>,
  accept: readonly number[],
  signal: AbortSignal,
) {
  const { method } = api.config.endpoints[kind]!;
  return await api.client.request({ method, path, json, headers, idempotent: kind !== "create", accept }, signal);
}

/** The idempotency header of a create or an upsert, when the API takes one. */
export const idempotency = (api: RestApi, kind: EndpointKind, key: string): Record<string, string> =>
  api.idempotencyHeader && (kind === "create" || kind === "upsert") ? { [api.idempotencyHeader]: key } : {};

/** A record the API refused inside a successful answer: the error keeps what the DLQ shows of an HTTP error. */
export function refusedRecord(
  api: RestApi,
  kind: EndpointKind,
  item: DeliveryItem,
  res: HttpResponse,
  path: string,
  why: string,
  entry: unknown,
): PermanentError {
  const details = {
    method: api.config.endpoints[kind]!.method,
    url: `${api.config.base_url.replace(/\/$/, "")}${path.split("?")[0]}`,
    status: res.status,
    body: trimBody(JSON.stringify(entry) ?? ""),
  };
  const message = `${api.name} refused the ${kind} of ${item.match.property}=${item.match.value}: ${trimBody(why, 300)}`;
  return new PermanentError("DEST_REJECTED", message, { details });
}

/** An update answered 404 for a record the lookup finds: creating it would make a duplicate. */
export const updateMissesFound = (api: RestApi, item: DeliveryItem, id: string) =>
  new PermanentError(
    "DEST_REJECTED",
    `${api.name} answered 404 to the update of ${item.match.property}=${item.match.value}, yet its lookup finds record ${id}: check endpoints.update.path`,
  );

/** What the dead-letter queue keeps of an answer (answerDetails). */
export type AnswerDetails = ReturnType<typeof answerDetails>;

export const noId = (api: RestApi, item: DeliveryItem, what: string, details?: AnswerDetails) =>
  new PermanentError(
    "DEST_NO_ID",
    `${api.name}'s answer to the ${what} of ${item.match.property}=${item.match.value} holds no id at ${api.config.results.id_field}: ` +
      "set results.id_field (and results.path) to where the API puts the record's id",
    details ? { details } : {},
  );

/** A create whose answer names no id, and that the lookup does not find: undecided until delivery splits its batch. */
export const unconfirmed = (api: RestApi, item: DeliveryItem, details: AnswerDetails) =>
  new TransientError(
    "DEST_UNCONFIRMED",
    `${api.name} answered ${details.status} to the create of ${item.match.property}=${item.match.value} without an id for it, ` +
      "and the lookup does not find it",
    { details },
  );

/** {{changed}}: the changed properties of a record Ferry has delivered before, else all of them. */
function changedOf(item: DeliveryItem): Record<string, unknown> {
  if (!item.remoteId || item.changed.length === 0) return item.properties;
  return Object.fromEntries(item.changed.map((name) => [name, item.properties[name] ?? null]));
}

export function recordScope(item: DeliveryItem, remoteId: string | null): Scope {
  return (name) => {
    switch (name) {
      case "key":
        return item.match.value;
      case "remote_id":
        return remoteId;
      case "idempotency_key":
        return item.idempotencyKey;
      case "properties":
        return item.properties;
      case "changed":
        return changedOf(item);
      case "object":
        return item.object;
      case "entity":
        return item.entity;
      case "match_property":
        return item.match.property;
    }
    return name.startsWith("field.") ? (item.properties[name.slice("field.".length)] ?? null) : undefined;
  };
}

/** The idempotency key of a batch: the same records in the same order always give the same key. */
export function batchIdempotencyKey(items: readonly DeliveryItem[]): string {
  return hash("sha256", items.map((i) => i.idempotencyKey).join("\n"), "hex");
}

/** Runs `fn` over the items, `limit` at a time; the first error stops new work and is thrown once all have settled. */
export async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw (failure as { error: unknown }).error;
}
