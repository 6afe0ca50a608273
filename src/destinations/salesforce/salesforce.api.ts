/**
 * What the Salesforce destination's operations share: the API client, the versioned data path, the
 * per-record results of sObject Collections and the errors they become.
 */
import type { HttpClient } from "../../http/http-client.ts";
import { type FerryError, PermanentError, TransientError } from "../../errors.ts";

/** Records per sObject Collections request: Salesforce's limit. */
export const BATCH = 200;

/** One Salesforce destination's API, as every operation reaches it; made once by the destination's factory. */
export interface SalesforceApi {
  readonly client: HttpClient;
  /** The REST API's root for the configured version: `/services/data/v61.0`. */
  readonly data: string;
}

export interface SaveResult {
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

/** Salesforce's own error code and message in an error answer. */
export const apiMessage = (body: unknown): string | undefined => {
  const first = Array.isArray(body) ? (body[0] as { errorCode?: unknown; message?: unknown } | undefined) : undefined;
  return first && typeof first.message === "string" ? `${String(first.errorCode ?? "")}: ${first.message}` : undefined;
};

/** A record Salesforce refused, as its item's error: transient when the record was busy, else permanent. */
export function recordError(result: SaveResult, object: string, key: string): FerryError {
  const first = result.errors[0];
  const code = first?.statusCode ?? "UNKNOWN_ERROR";
  const fields = first?.fields?.length ? ` (fields: ${first.fields.join(", ")})` : "";
  const message = `Salesforce refused ${object} ${key}: ${code}: ${first?.message ?? "no reason given"}${fields}`;
  return TRANSIENT_CODES.has(code)
    ? new TransientError("DEST_RECORD_BUSY", message, { details: { salesforce: code } })
    : new PermanentError("DEST_REJECTED", message, { details: { salesforce: code } });
}
