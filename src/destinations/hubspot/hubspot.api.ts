/**
 * What the HubSpot destination's operations share: the API client, HubSpot's batch request and answer,
 * how a record's values become HubSpot properties, and the split of a batch HubSpot refuses whole.
 */
import type { HttpClient } from "../../http/http-client.ts";
import type { Values } from "../../engine/types.ts";
import { blameOf, type FerryError, PermanentError, TransientError } from "../../errors.ts";
import type { Answer, DeliveryItem } from "../destination.ts";

/** Records per batch request: HubSpot's limit. */
export const BATCH = 100;

/** One HubSpot destination's API, as every operation reaches it; made once by the destination's factory. */
export interface HubSpotApi {
  readonly client: HttpClient;
}

export interface SimplePublicObject {
  id: string;
  properties: Record<string, string | null>;
}
export interface BatchResponse {
  results: SimplePublicObject[];
  errors?: { category: string; message: string; context?: Record<string, string[]> }[];
}

/** HubSpot's own message in an error answer. */
export function apiMessage(body: unknown): string | undefined {
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === "string" ? message : undefined;
}

/** A batch call; `idempotent` false for creates, which a repeat would apply twice. */
export const post = async <T>(api: HubSpotApi, path: string, json: unknown, idempotent: boolean, signal: AbortSignal) =>
  (await api.client.request<T>({ method: "POST", path, json, idempotent }, signal)).body;

/** The path of an object type's endpoints. */
export const objectPath = (object: string) => `/crm/v3/objects/${encodeURIComponent(object)}`;

/** HubSpot stores every property as text; an empty string clears one. */
export function toHubSpotProperties(values: Values, only?: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of only ?? Object.keys(values)) {
    const v = values[name];
    if (v !== undefined) out[name] = v === null ? "" : String(v);
  }
  return out;
}

/** Answers a record with its failure. */
export const failer = (answer: Answer) => (i: DeliveryItem, error: FerryError) => answer({ outboxId: i.outboxId, ok: false, error });

/**
 * Sends one batch call; when HubSpot rejects the batch whole (400/409), splits it to find the records it
 * refuses so that the others still go through.
 */
export async function sendSplitting<T extends DeliveryItem>(
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
