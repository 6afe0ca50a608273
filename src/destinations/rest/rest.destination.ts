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
import { hash } from "node:crypto";
import type { BackoffPolicy } from "../../http/backoff.ts";
import { trimBody } from "../../http/exchange.ts";
import type { HttpResponse } from "../../http/http-client.ts";
import { destinationClient } from "../../http/http.config.ts";
import type { Values } from "../../engine/types.ts";
import { FerryError, PermanentError } from "../../errors.ts";
import {
  type Answer,
  type DeliveryItem,
  type Destination,
  type DestinationContext,
  type DestinationDefinition,
  type ItemResult,
  blamesDestination,
  writeInGroups,
} from "../destination.ts";
import { restAuth } from "./rest.auth.ts";
import {
  bodyOf,
  DEFAULT_BATCH_SIZE,
  type EndpointKind,
  idempotencyHeaderOf,
  isBatchEndpoint,
  recordBodyOf,
  type RestDestinationConfig,
  restDestinationSchema,
} from "./rest.config.ts";
import { apiMessage, batchEntries, errorOf, idOf, lookupMatch, valueAt } from "./rest.results.ts";
import { render, renderPath, type Scope, uses } from "./rest.template.ts";

/** Knobs of the HTTP client, for tests that must not wait through real backoff. */
export interface RestDestinationOptions {
  attempts?: number;
  backoff?: BackoffPolicy;
  random?: () => number;
}

/** A batch the API refuses whole with one of these is split in halves to isolate the records it refuses. */
const SPLIT = new Set([400, 409, 413, 422]);
const GONE = [404, 410];

/** A record on its way, with the API's id for it when known. */
interface Entry {
  item: DeliveryItem;
  id: string | null;
}

/** What a successful write did; an upsert of a record Ferry has no id for is taken as a create. */
const actionOf = (kind: EndpointKind, item: DeliveryItem) =>
  kind === "delete" ? "deleted" : kind === "update" || (kind === "upsert" && item.remoteId) ? "updated" : "created";

const statusOf = (e: unknown) => (e instanceof FerryError ? (e.details as { status?: number }).status : undefined);

/** {{changed}}: the changed properties of a record Ferry has delivered before, else all of them. */
function changedOf(item: DeliveryItem): Record<string, unknown> {
  if (!item.remoteId || item.changed.length === 0) return item.properties;
  return Object.fromEntries(item.changed.map((name) => [name, item.properties[name] ?? null]));
}

function recordScope(item: DeliveryItem, remoteId: string | null): Scope {
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
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
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

export function createRestDestination(
  name: string,
  config: RestDestinationConfig,
  context: DestinationContext,
  options: RestDestinationOptions = {},
): Destination {
  const auth = restAuth(name, config, context);
  const api = URL.canParse(config.base_url) ? new URL(config.base_url).origin : config.base_url;
  const client = destinationClient({
    name,
    api: `rest ${api}`,
    settings: config,
    auth,
    log: context.log,
    client: { service: name, baseUrl: config.base_url, messageOf: apiMessage, ...options },
  });
  const endpoints = config.endpoints;
  const results = config.results;
  const idempotencyHeader = idempotencyHeaderOf(config);
  const batchMode = config.mode === "batch";

  const ok = (item: DeliveryItem, remoteId: string | null, action: "created" | "updated" | "deleted" | "absent"): ItemResult => ({
    outboxId: item.outboxId,
    ok: true,
    remoteId,
    action,
  });
  const failed = (item: DeliveryItem, error: FerryError, request: unknown): ItemResult => ({
    outboxId: item.outboxId,
    ok: false,
    error,
    ...(request === undefined ? {} : { request }),
  });

  /** One request to an endpoint. Only a create is not idempotent: a lookup is a read, even as a POST. */
  async function call(
    kind: EndpointKind | "lookup",
    path: string,
    json: unknown,
    headers: Record<string, string>,
    accept: readonly number[],
    signal: AbortSignal,
  ) {
    const { method } = endpoints[kind]!;
    return await client.request({ method, path, json, headers, idempotent: kind !== "create", accept }, signal);
  }
  const idempotency = (kind: EndpointKind, key: string): Record<string, string> =>
    idempotencyHeader && (kind === "create" || kind === "upsert") ? { [idempotencyHeader]: key } : {};

  /** A record the API refused inside a successful answer: the error keeps what the DLQ shows of an HTTP error. */
  const refusedRecord = (kind: EndpointKind, item: DeliveryItem, res: HttpResponse, path: string, why: string, entry: unknown) => {
    const details = {
      method: endpoints[kind]!.method,
      url: `${config.base_url.replace(/\/$/, "")}${path.split("?")[0]}`,
      status: res.status,
      body: trimBody(JSON.stringify(entry) ?? ""),
    };
    const message = `${name} refused the ${kind} of ${item.match.property}=${item.match.value}: ${trimBody(why, 300)}`;
    return new PermanentError("DEST_REJECTED", message, { details });
  };
  /** An update answered 404 for a record the lookup finds: creating it would make a duplicate. */
  const updateMissesFound = (item: DeliveryItem, id: string) =>
    new PermanentError(
      "DEST_REJECTED",
      `${name} answered 404 to the update of ${item.match.property}=${item.match.value}, yet its lookup finds record ${id}: check endpoints.update.path`,
    );
  const noId = (item: DeliveryItem, what: string) =>
    new PermanentError(
      "DEST_NO_ID",
      `${name}'s answer to the ${what} of ${item.match.property}=${item.match.value} holds no id at ${results.id_field}: ` +
        "set results.id_field (and results.path) to where the API puts the record's id",
    );

  // ---- one record per request ----

  /** The remote id of the record with this key, or null when the API has none. */
  async function lookupOne(item: DeliveryItem, signal: AbortSignal): Promise<string | null> {
    const lookup = endpoints.lookup!;
    const scope = recordScope(item, null);
    const path = renderPath(lookup.path, scope, "endpoints.lookup.path");
    const body = lookup.body === undefined ? undefined : render(lookup.body, scope);
    const res = await call("lookup", path, body, {}, GONE, signal);
    if (GONE.includes(res.status)) return null;
    const match = lookupMatch(res.body, lookup.result_path, lookup.id_field);
    switch (match.kind) {
      case "found":
        return match.id;
      case "none":
        return null;
      case "ambiguous":
        throw new PermanentError(
          "DEST_AMBIGUOUS_MATCH",
          `${name}'s lookup found ${match.count} records with ${item.match.property}=${item.match.value}: merge them in the API, or make the lookup find one`,
        );
      case "no-id":
        throw new PermanentError(
          "DEST_NO_ID",
          `${name}'s lookup of ${item.match.property}=${item.match.value} found a record without an id at ${lookup.id_field}: set endpoints.lookup.id_field (and result_path)`,
        );
    }
  }

  /** The body of the request in flight, for the failure result. */
  interface Sent {
    body: unknown;
  }

  /** Sends one record's request; an answer of `gone` (404/410) comes back as null when accepted. */
  async function sendOne(kind: EndpointKind, item: DeliveryItem, id: string | null, sent: Sent, signal: AbortSignal) {
    const endpoint = endpoints[kind]!;
    const scope = recordScope(item, id);
    const path = renderPath(endpoint.path, scope, `endpoints.${kind}.path`);
    const template = bodyOf(config, kind);
    sent.body = template === undefined ? undefined : render(template, scope);
    const accept = kind === "update" || kind === "delete" ? GONE : [];
    const res = await call(kind, path, sent.body, idempotency(kind, item.idempotencyKey), accept, signal);
    if (GONE.includes(res.status)) return null;
    const entry = valueAt(res.body, results.path);
    const why = errorOf(entry, results.error_field);
    if (why !== undefined) throw refusedRecord(kind, item, res, path, why, entry);
    return { status: res.status, id: idOf(valueAt(entry, results.id_field)) };
  }

  async function createOne(item: DeliveryItem, sent: Sent, signal: AbortSignal): Promise<ItemResult> {
    const res = (await sendOne("create", item, null, sent, signal))!;
    if (res.id === null) throw noId(item, "create");
    return ok(item, res.id, "created");
  }

  async function createOrUpdate(item: DeliveryItem, sent: Sent, signal: AbortSignal): Promise<ItemResult> {
    let id = item.remoteId;
    const known = id !== null;
    if (id === null && endpoints.lookup) id = await lookupOne(item, signal);
    if (id === null) return await createOne(item, sent, signal);
    const res = await sendOne("update", item, id, sent, signal);
    if (res) return ok(item, res.id ?? id, "updated");
    // Gone since Ferry last pushed it: deleted in the API, or merged into another record.
    const again = known && endpoints.lookup ? await lookupOne(item, signal) : null;
    if (!known || again === id) throw updateMissesFound(item, id);
    if (again !== null) {
      const retried = await sendOne("update", item, again, sent, signal);
      if (retried) return ok(item, retried.id ?? again, "updated");
      throw updateMissesFound(item, again);
    }
    return await createOne(item, sent, signal);
  }

  async function deleteOne(item: DeliveryItem, sent: Sent, signal: AbortSignal): Promise<ItemResult> {
    const d = endpoints.delete;
    if (!d) {
      return failed(item, new PermanentError(
        "DEST_NO_DELETE",
        `${name} has no delete endpoint: give endpoints.delete in ferry.yaml, or stop deleting ${item.entity} records at their source`,
      ), undefined);
    }
    let id = item.remoteId;
    const needsId = uses(d.path, "remote_id") || uses(d.body, "remote_id");
    if (needsId && id === null && endpoints.lookup) id = await lookupOne(item, signal);
    if (needsId && id === null) return ok(item, null, "absent");
    const res = await sendOne("delete", item, id, sent, signal);
    return res ? ok(item, id, "deleted") : ok(item, null, "absent");
  }

  async function upsertOne(item: DeliveryItem, sent: Sent, signal: AbortSignal): Promise<ItemResult> {
    const res = (await sendOne("upsert", item, null, sent, signal))!;
    return ok(item, res.id ?? item.remoteId, res.status === 201 || item.remoteId === null ? "created" : "updated");
  }

  /** One record, one request at a time (two or three with a lookup). Throws only what blames the API. */
  async function writeOne(item: DeliveryItem, signal: AbortSignal): Promise<ItemResult> {
    const sent: Sent = { body: undefined };
    try {
      if (item.op === "delete") return await deleteOne(item, sent, signal);
      if (endpoints.upsert) return await upsertOne(item, sent, signal);
      return await createOrUpdate(item, sent, signal);
    } catch (e) {
      if (blamesDestination(e)) throw e;
      return failed(item, e as FerryError, sent.body);
    }
  }

  // ---- many records per request ----

  /**
   * Sends a batch; when the API refuses it whole, splits it in halves to find the records it refuses, so
   * that the others still go through. Records an update or delete finds gone (404 for one record) go to `gone`.
   */
  async function sendBatch(kind: EndpointKind, batch: Entry[], answer: Answer, gone: Entry[], signal: AbortSignal): Promise<void> {
    if (batch.length === 0) return;
    const endpoint = endpoints[kind]!;
    const records = batch.map((e) => render(recordBodyOf(config, kind), recordScope(e.item, e.id)));
    const key = batchIdempotencyKey(batch.map((e) => e.item));
    const first = recordScope(batch[0]!.item, null);
    const scope: Scope = (n) => (n === "records" ? records : n === "idempotency_key" ? key : first(n));
    const path = renderPath(endpoint.path, scope, `endpoints.${kind}.path`);
    let res: HttpResponse;
    try {
      res = await call(kind, path, render(bodyOf(config, kind), scope), idempotency(kind, key), [], signal);
    } catch (e) {
      if (blamesDestination(e)) throw e;
      const status = statusOf(e);
      const missing = (kind === "update" || kind === "delete") && status !== undefined && GONE.includes(status);
      if (batch.length > 1 && status !== undefined && (SPLIT.has(status) || missing)) {
        const mid = Math.ceil(batch.length / 2);
        await sendBatch(kind, batch.slice(0, mid), answer, gone, signal);
        await sendBatch(kind, batch.slice(mid), answer, gone, signal);
      } else if (missing && kind === "update") gone.push(batch[0]!);
      else if (missing) answer(ok(batch[0]!.item, null, "absent"));
      else batch.forEach((e_, i) => answer(failed(e_.item, e as FerryError, records[i])));
      return;
    }
    const entries = batchEntries(res.body, results, batch.map((e) => e.item.match.value));
    batch.forEach(({ item, id }, i) => {
      const entry = entries?.[i];
      // Without a result of its own, a record counts as applied; only a create needs one, for its id.
      if (entry === undefined) {
        if (kind !== "create") answer(ok(item, id, actionOf(kind, item)));
        else {
          const where = entries === null ? `no list of results at ${results.path ?? "the top level"}` : "no result for it";
          answer(failed(item, new PermanentError(
            "DEST_NO_RESULT",
            `${name}'s answer to the create of ${item.match.property}=${item.match.value} holds ${where}: check results.path and results.match_by`,
          ), records[i]));
        }
        return;
      }
      const why = errorOf(entry, results.error_field);
      if (why !== undefined) return answer(failed(item, refusedRecord(kind, item, res, path, why, entry), records[i]));
      const answered = idOf(valueAt(entry, results.id_field));
      if (kind === "create" && answered === null) return answer(failed(item, noId(item, "create"), records[i]));
      answer(ok(item, answered ?? id, actionOf(kind, item)));
    });
  }

  /** Looks up the records Ferry has no remote id for, `concurrency` at a time; a lookup that fails answers its record. */
  async function lookupMany(items: DeliveryItem[], answer: Answer, signal: AbortSignal): Promise<Map<number, string | null>> {
    const found = new Map<number, string | null>();
    await eachLimited(items, config.concurrency, async (item) => {
      try {
        found.set(item.outboxId, await lookupOne(item, signal));
      } catch (e) {
        if (blamesDestination(e)) throw e;
        answer(failed(item, e as FerryError, undefined));
      }
    });
    return found;
  }

  /** Updates the records Ferry has an id for (its own, or the lookup's) and creates the others. */
  async function createOrUpdateMany(writes: DeliveryItem[], answer: Answer, signal: AbortSignal): Promise<void> {
    const lookedUp = endpoints.lookup ? await lookupMany(writes.filter((i) => !i.remoteId), answer, signal) : null;
    const updates: Entry[] = [];
    const creates: Entry[] = [];
    for (const item of writes) {
      if (!item.remoteId && lookedUp && !lookedUp.has(item.outboxId)) continue; // its lookup failed: answered
      const id = item.remoteId ?? lookedUp?.get(item.outboxId) ?? null;
      (id === null ? creates : updates).push({ item, id });
    }
    const gone: Entry[] = [];
    await sendBatch("update", updates, answer, gone, signal);
    // Gone since Ferry last pushed them: deleted in the API (created anew), or found again under another id.
    const again = lookedUp ? await lookupMany(gone.filter((e) => e.item.remoteId).map((e) => e.item), answer, signal) : null;
    const retry: Entry[] = [];
    for (const e of gone) {
      const id = again?.get(e.item.outboxId) ?? null;
      if (!e.item.remoteId || (id !== null && id === e.id)) answer(failed(e.item, updateMissesFound(e.item, e.id!), undefined));
      else if (again && !again.has(e.item.outboxId)) continue; // its lookup failed: answered
      else if (id !== null) retry.push({ item: e.item, id });
      else creates.push({ item: e.item, id: null });
    }
    const goneAgain: Entry[] = [];
    await sendBatch("update", retry, answer, goneAgain, signal);
    for (const e of goneAgain) answer(failed(e.item, updateMissesFound(e.item, e.id!), undefined));
    await sendBatch("create", creates, answer, [], signal);
  }

  async function deleteMany(deletes: DeliveryItem[], answer: Answer, signal: AbortSignal): Promise<void> {
    const d = endpoints.delete;
    if (!d || !isBatchEndpoint(config, "delete")) {
      await eachLimited(deletes, config.concurrency, async (item) => answer(await writeOne(item, signal)));
      return;
    }
    const needsId = uses(d.path, "remote_id") || uses(d.body, "remote_id") || uses(d.record_body, "remote_id");
    const lookedUp = needsId && endpoints.lookup ? await lookupMany(deletes.filter((i) => !i.remoteId), answer, signal) : null;
    const batch: Entry[] = [];
    for (const item of deletes) {
      if (!item.remoteId && lookedUp && !lookedUp.has(item.outboxId)) continue; // its lookup failed: answered
      const id = item.remoteId ?? lookedUp?.get(item.outboxId) ?? null;
      if (needsId && id === null) answer(ok(item, null, "absent"));
      else batch.push({ item, id });
    }
    await sendBatch("delete", batch, answer, [], signal);
  }

  /** One object's records in batch mode. */
  async function writeGroup(items: DeliveryItem[], answer: Answer, signal: AbortSignal): Promise<void> {
    const writes = items.filter((i) => i.op === "upsert");
    if (endpoints.upsert) await sendBatch("upsert", writes.map((item) => ({ item, id: item.remoteId })), answer, [], signal);
    else if (writes.length > 0) await createOrUpdateMany(writes, answer, signal);
    const deletes = items.filter((i) => i.op === "delete");
    if (deletes.length > 0) await deleteMany(deletes, answer, signal);
  }

  /** Reads records back one GET each, `concurrency` at a time, for remote_edits; a 404 or 410 leaves the record out. */
  async function readRemote(items: readonly DeliveryItem[], signal: AbortSignal): Promise<Map<number, Values>> {
    const read = endpoints.read!;
    const out = new Map<number, Values>();
    await eachLimited(items, config.concurrency, async (item) => {
      const path = renderPath(read.path, recordScope(item, item.remoteId), "endpoints.read.path");
      const res = await client.request({ method: "GET", path, idempotent: true, accept: GONE }, signal);
      if (GONE.includes(res.status)) return;
      const record = valueAt(res.body, read.result_path);
      if (record === null || typeof record !== "object" || Array.isArray(record)) {
        throw new PermanentError(
          "DEST_UNEXPECTED_ANSWER",
          `${name}'s answer to reading ${item.match.property}=${item.match.value} holds no record at ${read.result_path ?? "its top level"}: ` +
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
        async (group, answer) => (batchMode ? writeGroup(group, answer, signal) : answer(await writeOne(group[0]!, signal))),
      ),
    ...(endpoints.read ? { readRemote } : {}),
    close: async () => client.close(),
  };
}

export const restDestination: DestinationDefinition<RestDestinationConfig> = {
  type: "rest",
  configSchema: restDestinationSchema,
  create: (name, config, context) => createRestDestination(name, config, context),
};
