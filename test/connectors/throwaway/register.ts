/**
 * The throwaway connectors in Ferry's registries: the one line each would add to `src/sources/registry.ts`
 * and `src/destinations/registry.ts`. Loaded with `node --import` before the CLI, or imported by a test.
 */
import { destinations } from "../../../src/destinations/registry.ts";
import { sources } from "../../../src/sources/registry.ts";
import { throwawayDestination } from "./throwaway.destination.ts";
import { throwawaySource } from "./throwaway.source.ts";

sources.add(throwawaySource);
destinations.add(throwawayDestination);
