import { z } from "zod";
import { secretRef } from "../../config/secrets.ts";
import { deliverySettings } from "../shared.config.ts";

export const hubspotDestinationSchema = z
  .strictObject({
    type: z.literal("hubspot"),
    base_url: z
      .string()
      .refine((v) => v.includes("${") || URL.canParse(v), "expected a URL such as https://api.hubapi.com, or a reference ${env:NAME}")
      .default("https://api.hubapi.com")
      .describe("API root; the emulator's URL in tests and the demo."),
    token: secretRef.optional().describe("Private app access token, as a reference: ${env:HUBSPOT_TOKEN}. Or give oauth."),
    oauth: z
      .strictObject({
        client_id: z.string().min(1),
        client_secret: secretRef,
        refresh_token: secretRef.describe("The refresh token of the app's installation in the portal."),
        token_url: z.string().optional().describe("Default: base_url + /oauth/v1/token."),
      })
      .optional()
      .describe("OAuth2 for a public app: access tokens (30 minutes) are fetched with the refresh token and renewed on expiry."),
    ...deliverySettings({ rateLimit: { requests: 100, per_seconds: 10 }, concurrency: 4 }),
  })
  .superRefine((c, ctx) => {
    if (!c.token === !c.oauth) {
      ctx.addIssue({ code: "custom", path: ["token"], message: "give either token (a private app) or oauth (a public app), not both" });
    }
  });

export type HubSpotDestinationConfig = z.output<typeof hubspotDestinationSchema>;
