/**
 * `ferry.yaml`: the project: where state lives, the connections jobs name, and the destinations mappings
 * feed. Credentials appear here only as references (`${env:NAME}`, `${file:PATH}`).
 */
import { z } from "zod";
import { fileDestinationSchema } from "../destinations/file/file.config.ts";
import { hubspotDestinationSchema } from "../destinations/hubspot/hubspot.config.ts";
import { restDestinationSchema } from "../destinations/rest/rest.config.ts";
import { salesforceDestinationSchema } from "../destinations/salesforce/salesforce.config.ts";
import { sqlConnectionSchema } from "../sources/sql/sql.config.ts";

export const stateSchema = z.union([
  z.strictObject({ path: z.string().min(1).describe("SQLite state file, relative to ferry.yaml.") }),
  z.strictObject({ url: z.string().min(1).describe("PostgreSQL URL, e.g. ${env:FERRY_STATE_URL}.") }),
]);

export const projectSchema = z.strictObject({
  state: stateSchema.default({ path: ".ferry/state.db" }),
  jobs_dir: z.string().default("jobs"),
  mappings_dir: z.string().default("mappings"),
  connections: z.record(z.string(), sqlConnectionSchema).default({}),
  destinations: z.record(z.string(), z.discriminatedUnion("type", [hubspotDestinationSchema, salesforceDestinationSchema, restDestinationSchema, fileDestinationSchema])).default({}),
});

export type ProjectConfig = z.output<typeof projectSchema>;
export type StateConfig = z.output<typeof stateSchema>;
