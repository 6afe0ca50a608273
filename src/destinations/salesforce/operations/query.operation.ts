/** Query: Salesforce Ids of records by their external ID, through SOQL, 100 values per query. */
import { type SalesforceApi, soqlString } from "../salesforce.api.ts";

/** Salesforce Ids of records by external ID value. */
export async function lookupIds(api: SalesforceApi, object: string, field: string, keys: string[], signal: AbortSignal) {
  const found = new Map<string, string>();
  for (let i = 0; i < keys.length; i += 100) {
    const slice = keys.slice(i, i + 100);
    const q = `SELECT Id, ${field} FROM ${object} WHERE ${field} IN (${slice.map(soqlString).join(", ")})`;
    const res = await api.client.request<{ records: Record<string, unknown>[] }>({ method: "GET", path: `${api.data}/query`, query: { q } }, signal);
    for (const r of res.body.records) found.set(String(r[field]), String(r.Id));
  }
  return found;
}
