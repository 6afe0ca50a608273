/**
 * Salesforce: records upserted by external ID through sObject Collections (200 per request, per-record
 * results, allOrNone off so one bad record never fails the rest) and deleted by Salesforce Id, found by a
 * SOQL query on the external ID when Ferry does not know it. An upsert by external ID is safe to repeat:
 * a retry after a lost answer updates the record the first attempt created, so creates never duplicate.
 */
import { destinationClient } from "../../http/http.config.ts";
import type { Value, Values } from "../../engine/types.ts";
import { type FerryError, PermanentError, TransientError } from "../../errors.ts";
import {
  type Answer,
  type DeliveryItem,
  type Destination,
  type DestinationContext,
  type DestinationDefinition,
  writeInGroups,
} from "../destination.ts";
import { salesforceAuth } from "./salesforce.auth.ts";
import { type SalesforceDestinationConfig, salesforceDestinationSchema } from "./salesforce.config.ts";

const BATCH = 200;

interface SaveResult {
  id?: string;
  success: boolean;
  created?: boolean;
  errors: { statusCode: string; message: string; fields?: string[] }[];
}

/** Per-record errors worth another attempt: the record was locked or the org was busy, not wrong. */
const TRANSIENT_CODES = new Set(["UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"]);

/** Escapes a value for a single-quoted SOQL string literal. */
export function soqlString(value: string): string {
  return `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

const apiMessage = (body: unknown): string | undefined => {
  const first = Array.isArray(body) ? (body[0] as { errorCode?: unknown; message?: unknown } | undefined) : undefined;
  return first && typeof first.message === "string" ? `${String(first.errorCode ?? "")}: ${first.message}` : undefined;
};

function recordError(result: SaveResult, object: string, key: string): FerryError {
  const first = result.errors[0];
  const code = first?.statusCode ?? "UNKNOWN_ERROR";
  const fields = first?.fields?.length ? ` (fields: ${first.fields.join(", ")})` : "";
  const message = `Salesforce refused ${object} ${key}: ${code}: ${first?.message ?? "no reason given"}${fields}`;
  return TRANSIENT_CODES.has(code)
    ? new TransientError("DEST_RECORD_BUSY", message, { details: { salesforce: code } })
    : new PermanentError("DEST_REJECTED", message, { details: { salesforce: code } });
}

export function createSalesforceDestination(
  name: string,
  config: SalesforceDestinationConfig,
  context: DestinationContext,
): Destination {
  const auth = salesforceAuth(name, config, context);
  const client = destinationClient({
    name,
    api: "salesforce",
    settings: config,
    auth,
    log: context.log,
    client: {
      service: "Salesforce",
      baseUrl: config.login_url,
      messageOf: apiMessage,
      rateLimited: (status, body) => status === 403 && apiMessage(body)?.startsWith("REQUEST_LIMIT_EXCEEDED") === true,
    },
  });
  const data = `/services/data/v${config.api_version}`;

  /** Salesforce Ids of records by external ID value. */
  async function lookup(object: string, field: string, keys: string[], signal: AbortSignal) {
    const found = new Map<string, string>();
    for (let i = 0; i < keys.length; i += 100) {
      const slice = keys.slice(i, i + 100);
      const q = `SELECT Id, ${field} FROM ${object} WHERE ${field} IN (${slice.map(soqlString).join(", ")})`;
      const res = await client.request<{ records: Record<string, unknown>[] }>({ method: "GET", path: `${data}/query`, query: { q } }, signal);
      for (const r of res.body.records) found.set(String(r[field]), String(r.Id));
    }
    return found;
  }

  async function upsert(object: string, field: string, items: DeliveryItem[], signal: AbortSignal, answer: Answer) {
    const records = items.map((i) => {
      // A record Ferry has pushed before gets only what changed; otherwise every field.
      const names = i.remoteId && i.changed.length > 0 ? i.changed : Object.keys(i.properties);
      const fields: Values = {};
      for (const n of names) if (n !== field && i.properties[n] !== undefined) fields[n] = i.properties[n]!;
      return { attributes: { type: object }, ...fields, [field]: i.match.value };
    });
    const res = await client.request<SaveResult[]>(
      { method: "PATCH", path: `${data}/composite/sobjects/${encodeURIComponent(object)}/${encodeURIComponent(field)}`, json: { allOrNone: false, records } },
      signal,
    );
    items.forEach((item, n) => {
      const r = res.body[n];
      if (r?.success && r.id) {
        answer({ outboxId: item.outboxId, ok: true, remoteId: r.id, action: r.created ? "created" : "updated" });
      } else {
        const error = r
          ? recordError(r, object, item.key)
          : new PermanentError("DEST_NO_RESULT", `Salesforce's answer had no result for ${object} ${item.key}`);
        answer({ outboxId: item.outboxId, ok: false, error, request: records[n] });
      }
    });
  }

  async function remove(object: string, field: string, items: DeliveryItem[], signal: AbortSignal, answer: Answer) {
    const unknown = items.filter((i) => !i.remoteId).map((i) => i.match.value);
    const found = unknown.length > 0 ? await lookup(object, field, unknown, signal) : new Map<string, string>();
    const targets: { item: DeliveryItem; id: string }[] = [];
    for (const item of items) {
      const id = item.remoteId ?? found.get(item.match.value);
      if (id) targets.push({ item, id });
      else answer({ outboxId: item.outboxId, ok: true, remoteId: null, action: "absent" });
    }
    if (targets.length === 0) return;
    const res = await client.request<SaveResult[]>(
      { method: "DELETE", path: `${data}/composite/sobjects`, query: { ids: targets.map((t) => t.id).join(","), allOrNone: "false" } },
      signal,
    );
    targets.forEach(({ item, id }, n) => {
      const r = res.body[n];
      const code = r?.errors[0]?.statusCode;
      if (r?.success || code === "ENTITY_IS_DELETED" || code === "INVALID_CROSS_REFERENCE_KEY") {
        answer({ outboxId: item.outboxId, ok: true, remoteId: id, action: r?.success ? "deleted" : "absent" });
      } else {
        const error = r ? recordError(r, object, item.key) : new PermanentError("DEST_NO_RESULT", `Salesforce's answer had no result for ${id}`);
        answer({ outboxId: item.outboxId, ok: false, error, request: { id } });
      }
    });
  }

  /** The changed fields of records Ferry has pushed, read back by Salesforce Id through sObject Collections. */
  async function readRemote(items: readonly DeliveryItem[], signal: AbortSignal) {
    const out = new Map<number, Values>();
    for (const [object, group] of Map.groupBy(items, (i) => i.object)) {
      for (let n = 0; n < group.length; n += BATCH) {
        const slice = group.slice(n, n + BATCH);
        const fields = [...new Set(slice.flatMap((i) => i.changed))];
        const res = await client.request<(Record<string, unknown> | null)[]>(
          {
            method: "GET",
            path: `${data}/composite/sobjects/${encodeURIComponent(object)}`,
            query: { ids: [...new Set(slice.map((i) => i.remoteId!))].join(","), fields: fields.join(",") },
          },
          signal,
        );
        // Field names are case-insensitive in Salesforce; the answer spells them as the org does.
        const byId = new Map(
          res.body.flatMap((r) => (r ? [[String(r.Id), new Map(Object.entries(r).map(([k, v]) => [k.toLowerCase(), v]))] as const] : [])),
        );
        for (const i of slice) {
          const found = byId.get(i.remoteId!);
          if (found) out.set(i.outboxId, Object.fromEntries(i.changed.map((f) => [f, remoteValue(found.get(f.toLowerCase()))])));
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
      writeInGroups(name, items, (i) => `${i.op}\u0000${i.object}\u0000${i.match.property}`, (group, answer) => {
        const { op, object, match } = group[0]!;
        return op === "delete" ? remove(object, match.property, group, signal, answer) : upsert(object, match.property, group, signal, answer);
      }),
    readRemote,
    close: async () => client.close(),
  };
}

/** A field's value as Salesforce returns it, as a Ferry value (compound fields, which Ferry does not write, as JSON text). */
function remoteValue(v: unknown): Value {
  if (v === undefined || v === null) return null;
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  return JSON.stringify(v);
}

export const salesforceDestination: DestinationDefinition<SalesforceDestinationConfig> = {
  type: "salesforce",
  configSchema: salesforceDestinationSchema,
  create: createSalesforceDestination,
};
