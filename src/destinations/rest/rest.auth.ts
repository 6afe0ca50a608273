/**
 * The `rest` destination's credentials: its `auth` block turned into one of the delivery layer's Auths.
 * References are resolved when the destination is created, into Secrets, by the resolver its factory gives.
 */
import type { Secret } from "../../config/secrets.ts";
import { type Auth, basicAuth, bearerAuth, headerAuth, OAuth2Auth } from "../../http/auth.ts";
import { timeoutOf } from "../../http/http.config.ts";
import type { RestDestinationConfig } from "./rest.config.ts";

const noAuth: Auth = { id: "none", credentials: async () => ({ headers: {} }) };

/** `resolve` turns the reference given for a field of the destination's configuration (`auth.token`...). */
export function restAuth(name: string, config: RestDestinationConfig, resolve: (reference: string, field: string) => Secret): Auth {
  const secret = (reference: string, field: string) => resolve(reference, `auth.${field}`);
  const a = config.auth;
  switch (a.type) {
    case "none":
      return noAuth;
    case "bearer":
      return bearerAuth(secret(a.token, "token"));
    case "api_key":
      return headerAuth(a.header, secret(a.value, "value"));
    case "basic":
      return basicAuth(a.username, secret(a.password, "password"));
    case "oauth2_client_credentials": {
      const clientSecret = secret(a.client_secret, "client_secret");
      return new OAuth2Auth({
        service: name,
        tokenUrl: a.token_url,
        id: `${a.client_id}@${a.token_url}`,
        timeoutMs: timeoutOf(config),
        form: () => ({
          grant_type: "client_credentials",
          client_id: a.client_id,
          client_secret: clientSecret.reveal(),
          ...(a.scope === undefined ? {} : { scope: a.scope }),
          ...(a.audience === undefined ? {} : { audience: a.audience }),
        }),
      });
    }
  }
}
