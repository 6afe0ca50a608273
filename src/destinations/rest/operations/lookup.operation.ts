/**
 * Finding a record by its key (endpoints.lookup), before a create of a record Ferry has no remote id for,
 * or again when an update finds the record gone.
 */
import { type FerryError, PermanentError } from "../../../errors.ts";
import { type Answer, blamesDestination, type DeliveryItem } from "../../destination.ts";
import { call, eachLimited, failed, GONE, recordScope, type RestApi } from "../rest.api.ts";
import { lookupMatch } from "../rest.results.ts";
import { render, renderPath } from "../rest.template.ts";

/** The remote id of the record with this key, or null when the API has none. */
export async function lookupOne(api: RestApi, item: DeliveryItem, signal: AbortSignal): Promise<string | null> {
  const lookup = api.config.endpoints.lookup!;
  const scope = recordScope(item, null);
  const path = renderPath(lookup.path, scope, "endpoints.lookup.path");
  const body = lookup.body === undefined ? undefined : render(lookup.body, scope);
  const res = await call(api, "lookup", path, body, {}, GONE, signal);
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
        `${api.name}'s lookup found ${match.count} records with ${item.match.property}=${item.match.value}: merge them in the API, or make the lookup find one`,
      );
    case "no-id":
      throw new PermanentError(
        "DEST_NO_ID",
        `${api.name}'s lookup of ${item.match.property}=${item.match.value} found a record without an id at ${lookup.id_field}: set endpoints.lookup.id_field (and result_path)`,
      );
  }
}

/** Looks up the records Ferry has no remote id for, `concurrency` at a time; a lookup that fails answers its record. */
export async function lookupMany(
  api: RestApi,
  items: DeliveryItem[],
  answer: Answer,
  signal: AbortSignal,
): Promise<Map<number, string | null>> {
  const found = new Map<number, string | null>();
  await eachLimited(items, api.config.concurrency, async (item) => {
    try {
      found.set(item.outboxId, await lookupOne(api, item, signal));
    } catch (e) {
      if (blamesDestination(e)) throw e;
      answer(failed(item, e as FerryError, undefined));
    }
  });
  return found;
}
