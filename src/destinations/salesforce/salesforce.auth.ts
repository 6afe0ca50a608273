/**
 * Salesforce's OAuth2 flows: client credentials (a connected app's key and secret) and the JWT bearer flow
 * (an assertion signed with the connected app's private key, naming the integration user). The token
 * endpoint answers with the org's instance URL, where every API request then goes. References are resolved
 * when the destination is created, into Secrets, by the resolver its factory gives.
 */
import { createPrivateKey, sign } from "node:crypto";
import type { Secret } from "../../config/secrets.ts";
import { OAuth2Auth } from "../../http/auth.ts";
import { timeoutOf } from "../../http/http.config.ts";
import { ConfigError } from "../../errors.ts";
import type { SalesforceDestinationConfig } from "./salesforce.config.ts";

const base64url = (data: Buffer | string) => Buffer.from(data).toString("base64url");

/** A signed JWT bearer assertion, valid for three minutes. */
export function jwtAssertion(claims: { clientId: string; username: string; audience: string }, privateKeyPem: string, now = Date.now()) {
  const header = base64url(JSON.stringify({ alg: "RS256" }));
  const body = base64url(
    JSON.stringify({ iss: claims.clientId, sub: claims.username, aud: claims.audience, exp: Math.floor(now / 1000) + 180 }),
  );
  const signature = sign("RSA-SHA256", Buffer.from(`${header}.${body}`), createPrivateKey(privateKeyPem));
  return `${header}.${body}.${base64url(signature)}`;
}

/** `secret` turns the reference given for a field of the destination's configuration (`oauth.client_secret`...) into a Secret. */
export function salesforceAuth(
  name: string,
  config: SalesforceDestinationConfig,
  secret: (reference: string, field: string) => Secret,
): OAuth2Auth {
  const loginUrl = config.login_url.replace(/\/$/, "");
  const o = config.oauth;
  const common = { service: "Salesforce", tokenUrl: `${loginUrl}/services/oauth2/token`, timeoutMs: timeoutOf(config), defaultTtlMs: 30 * 60_000 };
  if (o.flow === "client_credentials") {
    const clientSecret = secret(o.client_secret, "oauth.client_secret");
    return new OAuth2Auth({
      ...common,
      id: o.client_id,
      form: () => ({ grant_type: "client_credentials", client_id: o.client_id, client_secret: clientSecret.reveal() }),
    });
  }
  const key = secret(o.private_key, "oauth.private_key");
  try {
    createPrivateKey(key.reveal());
  } catch (e) {
    throw new ConfigError(
      "DEST_BAD_PRIVATE_KEY",
      `destinations.${name}.oauth.private_key is not a PEM private key (${(e as Error).message}): give the key whose certificate the connected app holds`,
    );
  }
  return new OAuth2Auth({
    ...common,
    id: `${o.client_id}:${o.username}`,
    form: () => ({
      grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
      assertion: jwtAssertion({ clientId: o.client_id, username: o.username, audience: o.audience ?? loginUrl }, key.reveal()),
    }),
  });
}
