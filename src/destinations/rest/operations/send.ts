/**
 * The requests every write operation goes through: one record's request to an endpoint, and a batch's,
 * which is split when the API refuses it whole so that the records it does not refuse still go through.
 */
import { answerDetails, type HttpResponse } from "../../../http/http-client.ts";
import { type FerryError, PermanentError } from "../../../errors.ts";
import { type Answer, blamesDestination, type DeliveryItem } from "../../destination.ts";
import {
  actionOf,
  batchIdempotencyKey,
  call,
  type Entry,
  failed,
  GONE,
  idempotency,
  noId,
  ok,
  recordScope,
  refusedRecord,
  type RestApi,
  type Sent,
  SPLIT,
  statusOf,
  unconfirmed,
} from "../rest.api.ts";
import { lookupMany } from "./lookup.operation.ts";
import { bodyOf, type EndpointKind, recordBodyOf } from "../rest.config.ts";
import { batchEntries, errorOf, idOf, valueAt } from "../rest.results.ts";
import { render, renderPath, type Scope } from "../rest.template.ts";

/** Sends one record's request; an answer of `gone` (404/410) comes back as null when accepted. */
export async function sendOne(api: RestApi, kind: EndpointKind, item: DeliveryItem, id: string | null, sent: Sent, signal: AbortSignal) {
  const endpoint = api.config.endpoints[kind]!;
  const results = api.config.results;
  const scope = recordScope(item, id);
  const path = renderPath(endpoint.path, scope, `endpoints.${kind}.path`);
  const template = bodyOf(api.config, kind);
  sent.body = template === undefined ? undefined : render(template, scope);
  const accept = kind === "update" || kind === "delete" ? GONE : [];
  const res = await call(api, kind, path, sent.body, idempotency(api, kind, item.idempotencyKey), accept, signal);
  if (GONE.includes(res.status)) return null;
  const entry = valueAt(res.body, results.path);
  const why = errorOf(entry, results.error_field);
  if (why !== undefined) throw refusedRecord(api, kind, item, res, path, why, entry);
  return { status: res.status, id: idOf(valueAt(entry, results.id_field)), details: answerDetails(res) };
}

/**
 * Sends a batch; when the API refuses it whole, splits it in halves to find the records it refuses, so
 * that the others still go through. Records an update or delete finds gone (404 for one record) go to `gone`.
 */
export async function sendBatch(
  api: RestApi,
  kind: EndpointKind,
  batch: Entry[],
  answer: Answer,
  gone: Entry[],
  signal: AbortSignal,
): Promise<void> {
  if (batch.length === 0) return;
  const endpoint = api.config.endpoints[kind]!;
  const records = batch.map((e) => render(recordBodyOf(api.config, kind), recordScope(e.item, e.id)));
  const key = batchIdempotencyKey(batch.map((e) => e.item));
  const first = recordScope(batch[0]!.item, null);
  const scope: Scope = (n) => (n === "records" ? records : n === "idempotency_key" ? key : first(n));
  const path = renderPath(endpoint.path, scope, `endpoints.${kind}.path`);
  let res: HttpResponse;
  try {
    res = await call(api, kind, path, render(bodyOf(api.config, kind), scope), idempotency(api, kind, key), [], signal);
  } catch (e) {
    if (blamesDestination(e)) throw e;
    const status = statusOf(e);
    const missing = (kind === "update" || kind === "delete") && status !== undefined && GONE.includes(status);
    if (batch.length > 1 && status !== undefined && (SPLIT.has(status) || missing)) {
      const mid = Math.ceil(batch.length / 2);
      await sendBatch(api, kind, batch.slice(0, mid), answer, gone, signal);
      await sendBatch(api, kind, batch.slice(mid), answer, gone, signal);
    } else if (missing && kind === "update") gone.push(batch[0]!);
    else if (missing) answer(ok(batch[0]!.item, null, "absent"));
    else batch.forEach((e_, i) => answer(failed(e_.item, e as FerryError, records[i])));
    return;
  }
  const unnamed: Entry[] = [];
  answerBatch(api, kind, batch, res, path, records, answer, unnamed);
  await confirmCreated(api, unnamed, res, new Map(batch.map((e, i) => [e.item.outboxId, records[i]])), answer, signal);
}

/**
 * Each record's result from the answer to its batch request. A create the answer names no id for (no list
 * of results, no entry for it, an entry without an id) may have been applied all the same: with a lookup it
 * goes to `unnamed`, to be looked up before anything is blamed; without one it fails, the answer kept.
 */
function answerBatch(
  api: RestApi,
  kind: EndpointKind,
  batch: Entry[],
  res: HttpResponse,
  path: string,
  records: unknown[],
  answer: Answer,
  unnamed: Entry[],
): void {
  const results = api.config.results;
  const entries = batchEntries(res.body, results, batch.map((e) => e.item.match.value));
  const lookup = api.config.endpoints.lookup !== undefined;
  batch.forEach((e, i) => {
    const { item, id } = e;
    const entry = entries?.[i];
    // Without a result of its own, a record counts as applied; only a create needs one, for its id.
    if (entry === undefined) {
      if (kind !== "create") answer(ok(item, id, actionOf(kind, item)));
      else if (lookup) unnamed.push(e);
      else {
        const where = entries === null ? `no list of results at ${results.path ?? "the top level"}` : "no result for it";
        answer(failed(item, new PermanentError(
          "DEST_NO_RESULT",
          `${api.name}'s answer to the create of ${item.match.property}=${item.match.value} holds ${where}: check results.path and results.match_by`,
          { details: answerDetails(res) },
        ), records[i]));
      }
      return;
    }
    const why = errorOf(entry, results.error_field);
    if (why !== undefined) return answer(failed(item, refusedRecord(api, kind, item, res, path, why, entry), records[i]));
    const answered = idOf(valueAt(entry, results.id_field));
    if (kind === "create" && answered === null) {
      if (lookup) return void unnamed.push(e);
      return answer(failed(item, noId(api, item, "create", answerDetails(res)), records[i]));
    }
    answer(ok(item, answered ?? id, actionOf(kind, item)));
  });
}

/** Creates a batch's answer did not name, looked up: one found was created by it; one not found is undecided. */
async function confirmCreated(
  api: RestApi,
  unnamed: Entry[],
  res: HttpResponse,
  records: Map<number, unknown>,
  answer: Answer,
  signal: AbortSignal,
): Promise<void> {
  if (unnamed.length === 0) return;
  const found = await lookupMany(api, unnamed.map((e) => e.item), answer, signal);
  for (const { item } of unnamed) {
    if (!found.has(item.outboxId)) continue; // its lookup failed: answered
    const id = found.get(item.outboxId)!;
    answer(id === null ? failed(item, unconfirmed(api, item, answerDetails(res)), records.get(item.outboxId)) : ok(item, id, "created"));
  }
}
