/**
 * HubSpot's credentials: a private app's token, or a public app's OAuth2 refresh token, exchanged for
 * access tokens (30 minutes) and renewed on expiry. References are resolved when the destination is
 * created, into Secrets, by the resolver its factory gives.
 */
import type { Secret } from "../../config/secrets.ts";
import { type Auth, bearerAuth, OAuth2Auth } from "../../http/auth.ts";
import { timeoutOf } from "../../http/http.config.ts";
import type { HubSpotDestinationConfig } from "./hubspot.config.ts";

/** `secret` turns the reference given for a field of the destination's configuration (`token`...) into a Secret. */
export function hubspotAuth(config: HubSpotDestinationConfig, secret: (reference: string, field: string) => Secret): Auth {
  if (config.token) return bearerAuth(secret(config.token, "token"));
  const oauth = config.oauth!;
  const clientSecret = secret(oauth.client_secret, "oauth.client_secret");
  let refreshToken = secret(oauth.refresh_token, "oauth.refresh_token");
  return new OAuth2Auth({
    service: "HubSpot",
    tokenUrl: oauth.token_url ?? `${config.base_url.replace(/\/$/, "")}/oauth/v1/token`,
    id: `${oauth.client_id}:${refreshToken.reveal()}`,
    timeoutMs: timeoutOf(config),
    form: () => ({
      grant_type: "refresh_token",
      client_id: oauth.client_id,
      client_secret: clientSecret.reveal(),
      refresh_token: refreshToken.reveal(),
    }),
    onRefreshToken: (token) => (refreshToken = token),
  });
}
