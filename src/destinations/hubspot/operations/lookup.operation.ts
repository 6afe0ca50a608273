/**
 * Lookup: HubSpot ids of records by a unique property (batch/read with idProperty), before creating
 * records Ferry has no id for, so that a retried create updates what the first attempt made.
 */
import { type BatchResponse, type HubSpotApi, objectPath, post } from "../hubspot.api.ts";

/** Finds records by a unique property; returns value -> id. */
export async function lookupIds(api: HubSpotApi, object: string, property: string, values: string[], signal: AbortSignal) {
  const found = new Map<string, string>();
  if (values.length === 0) return found;
  const res = await post<BatchResponse>(
    api,
    `${objectPath(object)}/batch/read`,
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
