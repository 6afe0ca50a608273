/**
 * A small JSON REST API on 127.0.0.1 for the `rest` destination's tests: customers with an `external_id`,
 * one at a time and in batches, with the usual ways an API authenticates, deduplicates by Idempotency-Key,
 * refuses records, and fails. It keeps every request it was sent and every record it holds, so tests assert
 * what a user would see in the API.
 *
 * Routes:
 * - POST /oauth/token: client credentials grant (form), tokens `tok-1`, `tok-2`...
 * - GET /customers?external_id=K: `{ data: [matches] }`; GET /customers/:id: `{ data: customer }`
 * - POST /customers, PATCH /customers/:id, DELETE /customers/:id, PUT /customers/by-key/:key (upsert)
 * - POST /customers/batch, PATCH /customers/batch, POST /customers/batch/upsert, POST /customers/batch/delete:
 *   `{ items: [...] }` in, `{ results: [...] }` out (each `{ id, external_id }` or `{ external_id, error }`)
 *
 * Validation: an `email` without @ makes a request fail whole with 422 (a batch too); a `name` of REFUSE is
 * refused per record inside a batch's results; a second record with the same external_id is a 409.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export type ApiAuth =
  | { type: "none" }
  | { type: "header"; name: string; value: string }
  | { type: "oauth2"; clientId: string; clientSecret: string };

export interface Exchange {
  method: string;
  /** With its query string. */
  path: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  status: number;
  /** Answered from the idempotency cache, nothing applied. */
  replayed?: boolean;
}

export type Fault =
  | { type: "status"; status: number; retryAfterSec?: number }
  /** Apply the request, then drop the connection: the client cannot know it took effect. */
  | { type: "drop-after-apply" }
  /** Apply the request, then answer 200 with a body that is not the API's answer. */
  | { type: "unreadable-after-apply" };

interface FaultMatch {
  times?: number;
  method?: string;
  /** A prefix of the path. */
  path?: string;
  /** A substring of the request's body: a fault only requests carrying one record meet. */
  body?: string;
}

interface FaultRule extends FaultMatch {
  fault: Fault;
  remaining: number;
}

type Customer = Record<string, unknown> & { id: string; external_id: string };

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export class TestApi {
  readonly url: string;
  readonly customers = new Map<string, Customer>();
  readonly requests: Exchange[] = [];
  /** Batch results in reverse order, as an API that answers by key may. */
  reverseResults = false;
  tokensIssued = 0;
  readonly #server: http.Server;
  readonly #auth: ApiAuth;
  readonly #faults: FaultRule[] = [];
  readonly #replies = new Map<string, Reply>();
  readonly #tokens = new Set<string>();
  #nextId = 1;

  private constructor(server: http.Server, auth: ApiAuth) {
    this.#server = server;
    this.#auth = auth;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  static async start(auth: ApiAuth = { type: "none" }): Promise<TestApi> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const api = new TestApi(server, auth);
    server.on("request", (req, res) => void api.#handle(req, res));
    return api;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** The next `times` requests matching method, path prefix and body substring suffer the fault. */
  fail(fault: Fault, match: FaultMatch = {}): void {
    this.#faults.push({ ...match, fault, remaining: match.times ?? 1 });
  }

  /** Every token issued so far stops working: the API answers 401 until a new one is fetched. */
  revokeTokens(): void {
    this.#tokens.clear();
  }

  /** Adds a record directly, as if someone had created it in the API. */
  seed(fields: Omit<Customer, "id">): Customer {
    const c = { ...fields, id: `c${this.#nextId++}` } as Customer;
    this.customers.set(c.id, c);
    return c;
  }

  byKey(key: string): Customer | undefined {
    return [...this.customers.values()].find((c) => c.external_id === key);
  }

  /** Requests other than token fetches, as `METHOD /path`. */
  calls(): string[] {
    return this.requests.filter((r) => r.path !== "/oauth/token").map((r) => `${r.method} ${r.path}`);
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    let body: unknown;
    try {
      body = req.headers["content-type"]?.includes("json") && text ? JSON.parse(text) : text || undefined;
    } catch {
      body = text;
    }
    const exchange: Exchange = { method, path, headers: req.headers, body, status: 0 };
    this.requests.push(exchange);
    const send = (reply: Reply) => {
      exchange.status = reply.status;
      const payload = reply.body === undefined ? "" : JSON.stringify(reply.body);
      res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
      res.end(payload);
    };

    const rule = this.#faults.find(
      (f) =>
        f.remaining > 0 &&
        (!f.method || f.method === method) &&
        (!f.path || path.startsWith(f.path)) &&
        (!f.body || text.includes(f.body)),
    );
    if (rule) rule.remaining--;
    if (rule?.fault.type === "status") {
      const retry = rule.fault.retryAfterSec;
      return send({ status: rule.fault.status, body: { message: "injected fault" }, ...(retry === undefined ? {} : { headers: { "retry-after": String(retry) } }) });
    }
    if (path === "/oauth/token") return send(this.#token(body));
    if (!this.#authorized(req.headers)) return send({ status: 401, body: { message: "invalid credentials" } });

    const key = req.headers["idempotency-key"];
    const cached = typeof key === "string" ? this.#replies.get(`${method} ${path} ${key}`) : undefined;
    if (cached) {
      exchange.replayed = true;
      return send(cached);
    }
    const reply = this.#route(method, path, body);
    if (typeof key === "string" && reply.status < 500) this.#replies.set(`${method} ${path} ${key}`, reply);
    if (rule?.fault.type === "drop-after-apply") {
      exchange.status = -1;
      req.socket.destroy();
      return;
    }
    if (rule?.fault.type === "unreadable-after-apply") {
      exchange.status = 200;
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html><body>OK</body></html>");
      return;
    }
    send(reply);
  }

  #token(body: unknown): Reply {
    const form = new URLSearchParams(typeof body === "string" ? body : "");
    if (this.#auth.type !== "oauth2" || form.get("grant_type") !== "client_credentials") {
      return { status: 400, body: { error: "unsupported_grant_type" } };
    }
    if (form.get("client_id") !== this.#auth.clientId || form.get("client_secret") !== this.#auth.clientSecret) {
      return { status: 401, body: { error: "invalid_client" } };
    }
    const token = `tok-${++this.tokensIssued}`;
    this.#tokens.add(token);
    return { status: 200, body: { access_token: token, token_type: "bearer", expires_in: 3600, scope: form.get("scope") ?? "" } };
  }

  #authorized(headers: http.IncomingHttpHeaders): boolean {
    const a = this.#auth;
    if (a.type === "none") return true;
    if (a.type === "header") return headers[a.name.toLowerCase()] === a.value;
    const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? "");
    return bearer !== null && this.#tokens.has(bearer[1]!);
  }

  #route(method: string, path: string, body: unknown): Reply {
    const url = new URL(path, "http://api");
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== "customers") return { status: 404, body: { message: `no route ${url.pathname}` } };
    const [, second, third] = parts;
    if (second === "batch") return this.#batch(method, third, body);
    if (method === "GET" && second === undefined) {
      const key = url.searchParams.get("external_id");
      return { status: 200, body: { data: [...this.customers.values()].filter((c) => c.external_id === key) } };
    }
    if (method === "POST" && second === undefined) return this.#create(body);
    if (method === "PUT" && second === "by-key" && third !== undefined) {
      const existing = this.byKey(third);
      const invalid = this.#invalid(body);
      if (invalid) return { status: 422, body: { message: invalid } };
      if (existing) return { status: 200, body: Object.assign(existing, body, { external_id: third }) };
      return { status: 201, body: this.seed({ ...(body as object), external_id: third }) };
    }
    const customer = second === undefined ? undefined : this.customers.get(second);
    if (method === "GET" && third === undefined) {
      return customer ? { status: 200, body: { data: customer } } : { status: 404, body: { message: `no customer ${second}` } };
    }
    if (method === "PATCH" || method === "DELETE") {
      if (!customer) return { status: 404, body: { message: `no customer ${second}` } };
      if (method === "DELETE") {
        this.customers.delete(customer.id);
        return { status: 204 };
      }
      const invalid = this.#invalid(body);
      if (invalid) return { status: 422, body: { message: invalid } };
      return { status: 200, body: Object.assign(customer, body, { id: customer.id }) };
    }
    return { status: 405, body: { message: "method not allowed" } };
  }

  #invalid(fields: unknown): string | undefined {
    const email = (fields as { email?: unknown } | null)?.email;
    return typeof email === "string" && !email.includes("@") ? `email ${email} is invalid` : undefined;
  }

  #create(fields: unknown): Reply {
    const f = fields as Record<string, unknown>;
    const invalid = this.#invalid(f);
    if (invalid) return { status: 422, body: { message: invalid } };
    if (typeof f.external_id !== "string") return { status: 400, body: { message: "external_id is required" } };
    if (this.byKey(f.external_id)) return { status: 409, body: { message: `external_id ${f.external_id} exists` } };
    return { status: 201, body: this.seed({ ...f, external_id: f.external_id }) };
  }

  #batch(method: string, action: string | undefined, body: unknown): Reply {
    const items = (body as { items?: unknown } | null)?.items;
    if (!Array.isArray(items)) return { status: 400, body: { message: "items is required" } };
    const bad = items.findIndex((i) => this.#invalid(i));
    if (bad >= 0) return { status: 422, body: { message: `items[${bad}]: ${this.#invalid(items[bad])}` } };
    const one = (item: Record<string, unknown>): Record<string, unknown> => {
      const key = item.external_id;
      if (item.name === "REFUSE") return { external_id: key, error: { code: "refused", message: "name REFUSE is not allowed" } };
      if (method === "POST" && action === undefined) {
        const r = this.#create(item);
        if (r.status === 201) return { id: (r.body as Customer).id, external_id: key };
        return { external_id: key, error: (r.body as { message: string }).message };
      }
      if (method === "POST" && action === "upsert") {
        const existing = typeof key === "string" ? this.byKey(key) : undefined;
        const c = existing ? Object.assign(existing, item) : this.seed(item as Customer);
        return { id: c.id, external_id: c.external_id };
      }
      const c = this.customers.get(String(item.id));
      if (method === "PATCH" && action === undefined && c) return { id: Object.assign(c, item, { id: c.id }).id, external_id: c.external_id };
      if (method === "POST" && action === "delete" && c) {
        this.customers.delete(c.id);
        return { id: c.id, external_id: c.external_id };
      }
      return { external_id: key, id: item.id, error: "not found" };
    };
    if (method === "PATCH" && action === undefined) {
      const missing = items.find((i) => !this.customers.has(String((i as { id?: unknown }).id)));
      if (missing) return { status: 404, body: { message: `no customer ${(missing as { id?: unknown }).id}` } };
    }
    if (!(method === "POST" && (action === undefined || action === "upsert" || action === "delete")) && !(method === "PATCH" && action === undefined)) {
      return { status: 405, body: { message: "method not allowed" } };
    }
    const results = items.map((i) => one(i as Record<string, unknown>));
    return { status: 200, body: { results: this.reverseResults ? results.reverse() : results } };
  }
}
