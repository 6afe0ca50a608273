/**
 * The HTTP client against a small local server: a 401 renews an OAuth2 token once and retries at once, a
 * 401 after that (or with a static token) is DEST_UNAUTHORIZED naming the configuration fields to check; a
 * 500 may be the request's own doing and comes back undecided, not retried; an answer that cannot be read
 * is given back as text.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { Secret } from "../config/secrets.ts";
import { FerryError } from "../errors.ts";
import { type Auth, bearerAuth } from "./auth.ts";
import { HttpClient } from "./http-client.ts";

let server: http.Server;
let url = "";
let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => res.end();
const seen: string[] = [];
before(async () => {
  server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ""}`);
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const client = (auth: Auth) =>
  new HttpClient({
    service: "CRM",
    baseUrl: url,
    auth,
    bucket: null,
    breaker: null,
    timeoutMs: 2_000,
    backoff: { baseMs: 1, maxMs: 5 },
    credentialsAt: "destinations.crm.token (${env:CRM_TOKEN})",
  });

const reply = (status: number, body: string) => (_req: http.IncomingMessage, res: http.ServerResponse) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(body);
};

describe("HttpClient", () => {
  test("a 401 with a static token: DEST_UNAUTHORIZED at once, naming the secret to check", async () => {
    seen.length = 0;
    answer = reply(401, JSON.stringify({ message: "token expired" }));
    const c = client(bearerAuth(new Secret("static-token-1")));
    const e = await c.request({ method: "GET", path: "/x" }, new AbortController().signal).catch((x: unknown) => x);
    assert.ok(e instanceof FerryError && e.code === "DEST_UNAUTHORIZED");
    assert.match(e.message, /check destinations\.crm\.token \(\$\{env:CRM_TOKEN\}\)/);
    assert.ok(!e.message.includes("static-token-1"));
    assert.equal(seen.length, 1);
    c.close();
  });

  test("a 401 renews a token that can be renewed and retries at once; a second 401 stops", async () => {
    seen.length = 0;
    let issued = 0;
    const renewable: Auth = {
      id: "oauth",
      credentials: async () => ({ headers: { authorization: `Bearer tok-${issued}` } }),
      renew: () => {
        issued++;
        return true;
      },
    };
    answer = reply(401, "{}");
    const c = client(renewable);
    const e = await c.request({ method: "GET", path: "/y" }, new AbortController().signal).catch((x: unknown) => x);
    assert.ok(e instanceof FerryError && e.code === "DEST_UNAUTHORIZED");
    assert.deepEqual(seen, ["GET /y Bearer tok-0", "GET /y Bearer tok-1"]);
    c.close();
  });

  test("a 500 is undecided (DEST_SERVER_ERROR), and not repeated: splitting the batch is delivery's business", async () => {
    seen.length = 0;
    answer = reply(500, JSON.stringify({ message: "NullPointerException" }));
    const c = client(bearerAuth(new Secret("t")));
    const e = await c.request({ method: "PUT", path: "/z", json: {} }, new AbortController().signal).catch((x: unknown) => x);
    assert.ok(e instanceof FerryError && e.code === "DEST_SERVER_ERROR");
    assert.deepEqual(e.details, { method: "PUT", url: `${url}/z`, status: 500, body: "{\"message\":\"NullPointerException\"}" });
    assert.equal(seen.length, 1);
    c.close();
  });

  test("502, 503 and 504 say the API is down: DEST_UNAVAILABLE, retried", async () => {
    for (const status of [502, 503, 504]) {
      seen.length = 0;
      answer = reply(status, "");
      const c = client(bearerAuth(new Secret("t")));
      const e = await c.request({ method: "GET", path: "/w" }, new AbortController().signal).catch((x: unknown) => x);
      assert.ok(e instanceof FerryError && e.code === "DEST_UNAVAILABLE", String(status));
      assert.equal(seen.length, 4, `${status} retried`);
      c.close();
    }
  });
});
