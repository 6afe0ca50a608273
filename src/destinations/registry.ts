/**
 * Every destination type Ferry knows, by import. To add a connector, add its folder and one line here (and
 * its config schema to the project schema's `destinations` union).
 */
import type { DestinationDefinition } from "./destination.ts";
import { fileDestination } from "./file/file.destination.ts";
import { hubspotDestination } from "./hubspot/hubspot.destination.ts";
import { restDestination } from "./rest/rest.destination.ts";
import { salesforceDestination } from "./salesforce/salesforce.destination.ts";

const register = <C>(definition: DestinationDefinition<C>) => definition as DestinationDefinition<unknown>;

export const destinations: Record<string, DestinationDefinition<unknown>> = {
  file: register(fileDestination),
  hubspot: register(hubspotDestination),
  rest: register(restDestination),
  salesforce: register(salesforceDestination),
};
