import { z } from "zod";
import { secretRef } from "../../config/secrets.ts";
import { deliverySettings } from "../shared.config.ts";

const url = (example: string) =>
  z.string().refine((v) => v.includes("${") || URL.canParse(v), `expected a URL such as ${example}, or a reference \${env:NAME}`);

export const salesforceDestinationSchema = z.strictObject({
  type: z.literal("salesforce"),
  login_url: url("https://login.salesforce.com")
    .default("https://login.salesforce.com")
    .describe("Where tokens come from: https://login.salesforce.com, https://test.salesforce.com for a sandbox, or your My Domain URL."),
  api_version: z
    .string()
    .regex(/^\d{2,3}\.\d$/, "expected an API version such as 61.0")
    .default("61.0")
    .describe("The REST API version in every path (/services/data/v61.0/...)."),
  oauth: z
    .discriminatedUnion("flow", [
      z.strictObject({
        flow: z.literal("client_credentials"),
        client_id: z.string().min(1).describe("The connected app's consumer key."),
        client_secret: secretRef.describe("The connected app's consumer secret."),
      }),
      z.strictObject({
        flow: z.literal("jwt_bearer"),
        client_id: z.string().min(1).describe("The connected app's consumer key."),
        username: z.string().min(1).describe("The integration user the token acts as."),
        private_key: secretRef.describe("The PEM private key whose certificate the connected app holds: ${file:keys/salesforce.pem}."),
        audience: z.string().optional().describe("Default: login_url."),
      }),
    ])
    .describe("OAuth2: client credentials, or a JWT signed with the connected app's key. Tokens are renewed when they expire."),
  ...deliverySettings({
    // Salesforce counts API requests per org per 24 hours (Enterprise Edition: 100,000 plus 1,000 per user
    // licence) and has no per-second limit: a daily budget that may be spent in bursts.
    rateLimit: { requests: 100_000, per_seconds: 86_400, burst: 100_000 },
    concurrency: 4,
  }),
});

export type SalesforceDestinationConfig = z.output<typeof salesforceDestinationSchema>;
