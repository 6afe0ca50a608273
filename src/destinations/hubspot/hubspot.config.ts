import { z } from "zod";
import { secretRef } from "../../config/secrets.ts";

export const hubspotDestinationSchema = z.strictObject({
  type: z.literal("hubspot"),
  base_url: z
    .string()
    .refine(
      (v) => v.includes("${") || URL.canParse(v),
      "expected a URL such as https://api.hubapi.com, or a reference ${env:NAME}",
    )
    .default("https://api.hubapi.com")
    .describe("API root; the emulator's URL in tests and the demo."),
  token: secretRef.describe("Private app access token, as a reference: ${env:HUBSPOT_TOKEN}."),
  rate_limit: z
    .strictObject({ requests: z.number().int().min(1), per_seconds: z.number().min(0.1) })
    .nullable()
    .default({ requests: 100, per_seconds: 10 })
    .describe(
      "Requests allowed per window (HubSpot private apps: 100 per 10 s on most tiers). null: no limit.",
    ),
  max_attempts: z
    .number()
    .int()
    .min(1)
    .max(20)
    .default(5)
    .describe("Attempts per record before it is marked failed."),
  timeout_ms: z.number().int().min(100).default(30_000),
  concurrency: z.number().int().min(1).max(16).default(4).describe("Requests in flight at once."),
});

export type HubSpotDestinationConfig = z.output<typeof hubspotDestinationSchema>;
