/**
 * Salesforce: records upserted by external ID through sObject Collections (200 per request, per-record
 * results, allOrNone off so one bad record never fails the rest) and deleted by Salesforce Id, found by a
 * SOQL query on the external ID when Ferry does not know it. An upsert by external ID is safe to repeat:
 * a retry after a lost answer updates the record the first attempt created, so creates never duplicate.
 */
import { destinationClient } from "../../http/http.config.ts";
import {
  type Destination,
  type DestinationContext,
  type DestinationDefinition,
  secretsOf,
  writeInGroups,
} from "../destination.ts";
import { remove } from "./operations/delete.operation.ts";
import { readRemote } from "./operations/retrieve.operation.ts";
import { upsert } from "./operations/upsert.operation.ts";
import { apiMessage, BATCH, type SalesforceApi } from "./salesforce.api.ts";
import { salesforceAuth } from "./salesforce.auth.ts";
import { type SalesforceDestinationConfig, salesforceDestinationSchema } from "./salesforce.config.ts";

export { soqlString } from "./salesforce.api.ts";

/** The one place the Salesforce destination reads its context and resolves its secrets. */
export function createSalesforceDestination(
  name: string,
  config: SalesforceDestinationConfig,
  context: DestinationContext,
): Destination {
  const secrets = secretsOf(context);
  const auth = salesforceAuth(name, config, secrets.resolve);
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
      credentialsAt: secrets.named(),
    },
  });
  const api: SalesforceApi = { client, data: `/services/data/v${config.api_version}` };
  return {
    name,
    maxBatchSize: BATCH,
    concurrency: config.concurrency,
    write: (items, signal) =>
      writeInGroups(name, items, (i) => `${i.op}\u0000${i.object}\u0000${i.match.property}`, (group, answer) => {
        const { op, object, match } = group[0]!;
        return op === "delete"
          ? remove(api, object, match.property, group, signal, answer)
          : upsert(api, object, match.property, group, signal, answer);
      }),
    readRemote: (items, signal) => readRemote(api, items, signal),
    // Upserts by external ID and deletes by Id: a smaller batch applies nothing twice.
    splittable: () => true,
    claimed: () => client.drainRateLimit(),
    close: async () => client.close(),
  };
}

export const salesforceDestination: DestinationDefinition<SalesforceDestinationConfig> = {
  type: "salesforce",
  configSchema: salesforceDestinationSchema,
  create: createSalesforceDestination,
};
