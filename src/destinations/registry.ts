/**
 * Every destination type Ferry knows, by import. To add a connector, add its folder and one line here: the
 * project schema, the loader, `ferry validate --schemas` and delivery all read this registry.
 */
import { ConnectorRegistry } from "../config/connector.ts";
import type { DestinationDefinition } from "./destination.ts";
import { fileDestination } from "./file/file.destination.ts";
import { hubspotDestination } from "./hubspot/hubspot.destination.ts";
import { restDestination } from "./rest/rest.destination.ts";
import { salesforceDestination } from "./salesforce/salesforce.destination.ts";

export const destinations = new ConnectorRegistry<DestinationDefinition>("destination")
  .add(fileDestination)
  .add(hubspotDestination)
  .add(restDestination)
  .add(salesforceDestination);
