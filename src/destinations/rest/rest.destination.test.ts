/**
 * The `rest` destination against a real JSON API on 127.0.0.1 (test-api.ts): what ends up in the API and
 * what each record's result says, one record per request and in batches, through refusals, lost answers,
 * outages and every kind of credential.
 */
import assert from "node:assert/strict";
import { after, afterEach, describe, test } from "node:test";
import type { DeliveryItem, Destination, ItemResult } from "../destination.ts";
import { silentLogger } from "../../log.ts";
import { restDestinationSchema } from "./rest.config.ts";
import { batchIdempotencyKey, createRestDestination } from "./rest.destination.ts";
import { type ApiAuth, TestApi } from "./test-api.ts";
import { runContext } from "../../run-context.ts";

const ENV = { API_TOKEN: "t0k3n-for-tests", API_KEY: "k3y-for-tests", API_PASSWORD: "pa55word-for-tests", CLIENT_SECRET: "s3cret-for-tests" };

let outboxId = 0;
function item(key: string, properties: Record<string, string | number | null> = {}, extra: Partial<DeliveryItem> = {}): DeliveryItem {
  const props = { external_id: key, name: `Customer ${key}`, ...properties };
  return {
    outboxId: ++outboxId,
    entity: "customer",
    key,
    op: "upsert",
    object: "customers",
    match: { property: "external_id", value: key },
    properties: props,
    changed: Object.keys(props),
    remoteId: null,
    idempotencyKey: `crm:customer:${key}:1`,
    ...extra,
  };
}

const open: { api: TestApi; destination: Destination }[] = [];
afterEach(async () => {
  for (const { api, destination } of open.splice(0)) {
    await destination.close();
    await api.close();
  }
});
after(() => assert.equal(open.length, 0));

/** A test API and a destination pointed at it; both closed after the test. */
async function setup(config: Record<string, unknown> | ((api: TestApi) => Record<string, unknown>), auth: ApiAuth = { type: "none" }) {
  const api = await TestApi.start(auth);
  const fields = typeof config === "function" ? config(api) : config;
  const parsed = restDestinationSchema.parse({ type: "rest", base_url: api.url, auth: { type: "none" }, ...fields });
  const destination = createRestDestination("crm", parsed, runContext({ log: silentLogger, env: ENV, baseDir: ".", file: "ferry.yaml", block: "destinations.crm" }), {
    attempts: 2,
    backoff: { baseMs: 1, maxMs: 5 },
  });
  open.push({ api, destination });
  const write = (items: DeliveryItem[]) => destination.write(items, new AbortController().signal);
  return { api, destination, write };
}

const byId = (results: ItemResult[], i: DeliveryItem) => {
  const r = results.find((x) => x.outboxId === i.outboxId);
  assert.ok(r, `no result for ${i.key}`);
  return r;
};
const failure = (r: ItemResult) => {
  assert.equal(r.ok, false, `expected a failure, got ${JSON.stringify(r)}`);
  return r as Extract<ItemResult, { ok: false }>;
};

const SINGLE = {
  mode: "single",
  endpoints: {
    create: { path: "/customers" },
    update: { method: "PATCH", path: "/customers/{{remote_id}}", body: "{{changed}}" },
    lookup: { path: "/customers?external_id={{key}}", result_path: "data" },
    delete: { path: "/customers/{{remote_id}}" },
  },
};

describe("rest destination, one record per request", () => {
  test("creates a record the lookup does not find, and updates one it finds", async () => {
    const { api, write } = await setup(SINGLE);
    const existing = api.seed({ external_id: "B", name: "Old name" });
    const a = item("A", { email: "a@example.com" });
    const b = item("B", { name: "New name" });
    const results = await write([a, b]);
    assert.deepEqual(byId(results, a), { outboxId: a.outboxId, ok: true, remoteId: api.byKey("A")!.id, action: "created" });
    assert.deepEqual(byId(results, b), { outboxId: b.outboxId, ok: true, remoteId: existing.id, action: "updated" });
    assert.deepEqual(api.calls(), [
      "GET /customers?external_id=A",
      "POST /customers",
      "GET /customers?external_id=B",
      `PATCH /customers/${existing.id}`,
    ]);
    assert.equal(api.byKey("A")!.email, "a@example.com");
    assert.equal(api.byKey("B")!.name, "New name");
    assert.equal(api.customers.size, 2);
  });

  test("a record Ferry knows the id of is updated with only what changed, no lookup", async () => {
    const { api, write } = await setup(SINGLE);
    const c = api.seed({ external_id: "C", name: "Carol", email: "c@example.com" });
    const i = item("C", { name: "Caroline", email: "c@example.com" }, { remoteId: c.id, changed: ["name"] });
    assert.deepEqual(await write([i]), [{ outboxId: i.outboxId, ok: true, remoteId: c.id, action: "updated" }]);
    assert.deepEqual(api.calls(), [`PATCH /customers/${c.id}`]);
    assert.deepEqual(api.requests[0]!.body, { name: "Caroline" });
  });

  test("a record deleted in the API since Ferry pushed it is looked up again, then created anew", async () => {
    const { api, write } = await setup(SINGLE);
    const i = item("D", {}, { remoteId: "c404", changed: ["name"] });
    const [r] = await write([i]);
    const created = api.byKey("D")!;
    assert.deepEqual(r, { outboxId: i.outboxId, ok: true, remoteId: created.id, action: "created" });
    assert.deepEqual(api.calls(), ["PATCH /customers/c404", "GET /customers?external_id=D", "POST /customers"]);
    // A new record gets every property, not only what changed.
    assert.equal(created.name, "Customer D");
  });

  test("deletes by remote id; a record the API no longer has, or never had, is absent", async () => {
    const { api, write } = await setup(SINGLE);
    const e = api.seed({ external_id: "E" });
    const del = (key: string, remoteId: string | null) => item(key, {}, { op: "delete", remoteId });
    const [known, gone, never] = [del("E", e.id), del("F", "c999"), del("G", null)];
    const results = await write([known, gone, never]);
    assert.deepEqual(results, [
      { outboxId: known.outboxId, ok: true, remoteId: e.id, action: "deleted" },
      { outboxId: gone.outboxId, ok: true, remoteId: null, action: "absent" },
      { outboxId: never.outboxId, ok: true, remoteId: null, action: "absent" },
    ]);
    assert.deepEqual(api.calls(), [`DELETE /customers/${e.id}`, "DELETE /customers/c999", "GET /customers?external_id=G"]);
    assert.equal(api.customers.size, 0);
  });

  test("a record the API refuses fails alone, with its request for the dead-letter queue", async () => {
    const { api, write } = await setup(SINGLE);
    const bad = item("H", { email: "not-an-email" });
    const good = item("I", { email: "i@example.com" });
    const results = await write([bad, good]);
    const f = failure(byId(results, bad));
    assert.equal(f.error.code, "DEST_REJECTED");
    assert.match(f.error.message, /crm answered 422 to POST .*\/customers: email not-an-email is invalid/);
    assert.deepEqual(f.request, { external_id: "H", name: "Customer H", email: "not-an-email" });
    assert.equal(byId(results, good).ok, true);
    assert.deepEqual([...api.customers.values()].map((c) => c.external_id), ["I"]);
  });

  test("an upsert endpoint is addressed by the key, needs no lookup, and carries the idempotency key", async () => {
    const { api, write } = await setup({ endpoints: { upsert: { method: "PUT", path: "/customers/by-key/{{key}}" } } });
    const j = item("J/1", { email: "j@example.com" });
    const [r] = await write([j]);
    assert.deepEqual(r, { outboxId: j.outboxId, ok: true, remoteId: api.byKey("J/1")!.id, action: "created" });
    assert.deepEqual(api.calls(), ["PUT /customers/by-key/J%2F1"]);
    assert.equal(api.requests[0]!.headers["idempotency-key"], j.idempotencyKey);
    const again = item("J/1", { email: "j2@example.com" }, { remoteId: api.byKey("J/1")!.id, idempotencyKey: "crm:customer:J/1:2" });
    assert.deepEqual((await write([again]))[0], { outboxId: again.outboxId, ok: true, remoteId: api.byKey("J/1")!.id, action: "updated" });
    assert.equal(api.customers.size, 1);
    assert.equal(api.byKey("J/1")!.email, "j2@example.com");
  });

  test("a record the API answers 500 for fails alone, undecided, and the records after it are still sent", async () => {
    const { api, destination, write } = await setup(SINGLE);
    api.fail({ type: "status", status: 500 }, { times: 100, method: "POST", body: "\"P2\"" });
    const items = [item("P1"), item("P2"), item("P3")];
    const results = await write(items);
    const f = failure(byId(results, items[1]!));
    assert.equal(f.error.code, "DEST_SERVER_ERROR", "a 500 may be the record's doing: delivery decides");
    assert.equal(byId(results, items[0]!).ok, true);
    assert.equal(byId(results, items[2]!).ok, true, "the record after it was sent");
    assert.deepEqual([...api.customers.values()].map((c) => c.external_id).sort(), ["P1", "P3"]);
    assert.equal(destination.splittable?.(items[1]!), true, "a create after a lookup is safe to resend");
  });

  test("a create answered 200 with a body that cannot be read is looked up: the record it made is delivered", async () => {
    const { api, write } = await setup(SINGLE);
    api.fail({ type: "unreadable-after-apply" }, { method: "POST", path: "/customers" });
    const [r] = await write([item("UR")]);
    assert.deepEqual(r, { outboxId: r!.outboxId, ok: true, remoteId: api.byKey("UR")!.id, action: "created" });
    assert.equal(api.customers.size, 1);
  });

  test("a create whose answer was lost is resent with the same idempotency key: one record, not two", async () => {
    const { api, write } = await setup({
      endpoints: { create: { path: "/customers" }, update: { path: "/customers/{{remote_id}}" } },
      idempotency_header: "Idempotency-Key",
    });
    api.fail({ type: "drop-after-apply" }, { method: "POST", path: "/customers" });
    const k = item("K");
    const [first] = await write([k]);
    assert.equal(failure(first!).error.kind, "transient", "a create is never repeated blindly");
    assert.equal(api.calls().length, 1);
    const [second] = await write([k]);
    assert.deepEqual(second, { outboxId: k.outboxId, ok: true, remoteId: api.byKey("K")!.id, action: "created" });
    assert.deepEqual(api.requests.map((r) => r.headers["idempotency-key"]), [k.idempotencyKey, k.idempotencyKey]);
    assert.equal(api.requests[1]!.replayed, true);
    assert.equal(api.customers.size, 1);
  });
});

const BATCH = {
  mode: "batch",
  max_batch_size: 10,
  idempotency_header: "Idempotency-Key",
  endpoints: {
    create: { path: "/customers/batch" },
    update: { method: "PATCH", path: "/customers/batch", record_body: { id: "{{remote_id}}", name: "{{field.name}}", email: "{{field.email}}" } },
    delete: { method: "POST", path: "/customers/batch/delete", body: { items: "{{records}}" }, record_body: { id: "{{remote_id}}" } },
  },
  results: { path: "results", id_field: "id", error_field: "error" },
};

describe("rest destination, batches", () => {
  test("creates and updates in one request each, results matched by index", async () => {
    const { api, destination, write } = await setup(BATCH);
    assert.equal(destination.maxBatchSize, 10);
    const known = api.seed({ external_id: "L", name: "Old", email: "l@example.com" });
    const [l, m, n] = [item("L", { email: "l@example.com" }, { remoteId: known.id }), item("M", { email: "m@example.com" }), item("N", { email: null })];
    const results = await write([l, m, n]);
    assert.deepEqual(results, [
      { outboxId: l.outboxId, ok: true, remoteId: known.id, action: "updated" },
      { outboxId: m.outboxId, ok: true, remoteId: api.byKey("M")!.id, action: "created" },
      { outboxId: n.outboxId, ok: true, remoteId: api.byKey("N")!.id, action: "created" },
    ]);
    assert.deepEqual(api.calls(), ["PATCH /customers/batch", "POST /customers/batch"]);
    assert.deepEqual(api.requests[1]!.body, {
      items: [
        { external_id: "M", name: "Customer M", email: "m@example.com" },
        { external_id: "N", name: "Customer N", email: null },
      ],
    });
    assert.deepEqual(api.requests[0]!.body, { items: [{ id: known.id, name: "Customer L", email: "l@example.com" }] });
    assert.equal(api.byKey("L")!.name, "Customer L");
  });

  test("results matched by a key field, whatever their order", async () => {
    const { api, write } = await setup({ ...BATCH, results: { ...BATCH.results, match_by: "key", key_field: "external_id" } });
    api.reverseResults = true;
    const items = ["O", "P", "Q"].map((k) => item(k));
    const results = await write(items);
    for (const i of items) assert.deepEqual(byId(results, i), { outboxId: i.outboxId, ok: true, remoteId: api.byKey(i.key)!.id, action: "created" });
    assert.deepEqual(api.calls(), ["POST /customers/batch"]);
  });

  test("a batch refused whole is split until the bad record is alone: the others are delivered", async () => {
    const { api, write } = await setup(BATCH);
    const items = ["R1", "R2", "R3", "R4", "R5"].map((k) => item(k, { email: k === "R4" ? "broken" : `${k}@example.com` }));
    const results = await write(items);
    const bad = failure(byId(results, items[3]!));
    assert.equal(bad.error.code, "DEST_REJECTED");
    assert.match(bad.error.message, /422.*email broken is invalid/);
    assert.deepEqual(bad.request, { external_id: "R4", name: "Customer R4", email: "broken" });
    for (const i of items.filter((x) => x.key !== "R4")) assert.equal(byId(results, i).ok, true, i.key);
    assert.deepEqual([...api.customers.values()].map((c) => c.external_id).sort(), ["R1", "R2", "R3", "R5"]);
    // [R1..R5] refused, [R1 R2 R3] delivered, [R4 R5] refused, [R4] refused, [R5] delivered.
    assert.equal(api.calls().length, 5);
  });

  test("a record refused inside a batch's answer fails alone, with its part of the request", async () => {
    const { api, write } = await setup(BATCH);
    const [s, t] = [item("S", { name: "REFUSE" }), item("T")];
    const results = await write([s, t]);
    const f = failure(byId(results, s));
    assert.equal(f.error.code, "DEST_REJECTED");
    assert.match(f.error.message, /crm refused the create of external_id=S: name REFUSE is not allowed/);
    assert.deepEqual(f.request, { external_id: "S", name: "REFUSE" });
    assert.equal(byId(results, t).ok, true);
    assert.equal(api.calls().length, 1);
  });

  test("a batch create answered 200 with a body that cannot be read is looked up, record by record", async () => {
    const { api, write } = await setup({
      ...BATCH,
      idempotency_header: null,
      endpoints: { ...BATCH.endpoints, lookup: { path: "/customers?external_id={{key}}", result_path: "data" } },
    });
    api.fail({ type: "unreadable-after-apply" }, { method: "POST", path: "/customers/batch" });
    const items = [item("UA"), item("UB")];
    const results = await write(items);
    for (const i of items) assert.deepEqual(byId(results, i), { outboxId: i.outboxId, ok: true, remoteId: api.byKey(i.key)!.id, action: "created" });
    assert.equal(api.customers.size, 2);
  });

  test("creates kept safe only by a batch's idempotency key are not resent apart after a 500", async () => {
    const { destination } = await setup(BATCH);
    assert.equal(destination.splittable?.(item("SA")), false, "a smaller batch would carry another key");
    assert.equal(destination.splittable?.(item("SB", {}, { remoteId: "c1" })), true, "an update by id is safe to resend");
  });

  test("a batch's idempotency key hashes its records' keys, and is the same when it is resent", async () => {
    const { api, write } = await setup(BATCH);
    api.fail({ type: "drop-after-apply" }, { path: "/customers/batch" });
    const items = [item("U"), item("V")];
    const first = await write(items);
    assert.ok(first.every((r) => !r.ok && r.error.kind === "transient"));
    const second = await write(items);
    assert.ok(second.every((r) => r.ok && r.action === "created"));
    const keys = api.requests.map((r) => r.headers["idempotency-key"]);
    assert.deepEqual(keys, [batchIdempotencyKey(items), batchIdempotencyKey(items)]);
    assert.notEqual(batchIdempotencyKey(items), batchIdempotencyKey([items[1]!, items[0]!]));
    assert.equal(api.requests[1]!.replayed, true);
    assert.equal(api.customers.size, 2);
  });

  test("an update the API answers 404 for is split to the missing record, which is created anew", async () => {
    const { api, write } = await setup(BATCH);
    const w = api.seed({ external_id: "W", name: "W" });
    const [kept, lost] = [item("W", {}, { remoteId: w.id }), item("X", {}, { remoteId: "c404" })];
    const results = await write([kept, lost]);
    assert.deepEqual(byId(results, kept), { outboxId: kept.outboxId, ok: true, remoteId: w.id, action: "updated" });
    assert.deepEqual(byId(results, lost), { outboxId: lost.outboxId, ok: true, remoteId: api.byKey("X")!.id, action: "created" });
    assert.deepEqual(api.calls(), ["PATCH /customers/batch", "PATCH /customers/batch", "PATCH /customers/batch", "POST /customers/batch"]);
  });

  test("with a lookup, records without a remote id are looked up one by one before the batch", async () => {
    const { api, write } = await setup({
      ...BATCH,
      idempotency_header: null,
      endpoints: { ...BATCH.endpoints, lookup: { path: "/customers?external_id={{key}}", result_path: "data" } },
    });
    const y = api.seed({ external_id: "Y", name: "Y" });
    const results = await write([item("Y"), item("Z")]);
    assert.deepEqual(results.map((r) => r.ok && r.action), ["updated", "created"]);
    assert.deepEqual(api.calls().sort(), ["GET /customers?external_id=Y", "GET /customers?external_id=Z", "PATCH /customers/batch", "POST /customers/batch"]);
    assert.equal(api.requests.find((r) => r.method === "POST")!.headers["idempotency-key"], undefined);
    assert.equal(y.name, "Customer Y");
  });

  test("deletes in a batch by remote id; one without a remote id is absent", async () => {
    const { api, write } = await setup(BATCH);
    const a = api.seed({ external_id: "DA" });
    const [known, never] = [item("DA", {}, { op: "delete", remoteId: a.id }), item("DB", {}, { op: "delete" })];
    assert.deepEqual(await write([known, never]), [
      { outboxId: known.outboxId, ok: true, remoteId: a.id, action: "deleted" },
      { outboxId: never.outboxId, ok: true, remoteId: null, action: "absent" },
    ]);
    assert.deepEqual(api.calls(), ["POST /customers/batch/delete"]);
    assert.equal(api.customers.size, 0);
  });

  test("in batch mode, a delete endpoint without {{records}} is sent one record at a time", async () => {
    const { api, write } = await setup({ ...BATCH, endpoints: { ...BATCH.endpoints, delete: { path: "/customers/{{remote_id}}" } } });
    const [a, b] = [api.seed({ external_id: "PA" }), api.seed({ external_id: "PB" })];
    const items = [item("PA", {}, { op: "delete", remoteId: a.id }), item("PB", {}, { op: "delete", remoteId: b.id }), item("PC")];
    const results = await write(items);
    assert.deepEqual(results.map((r) => r.ok && r.action), ["deleted", "deleted", "created"]);
    assert.deepEqual(api.calls().sort(), ["DELETE /customers/c1", "DELETE /customers/c2", "POST /customers/batch"]);
    assert.deepEqual([...api.customers.values()].map((c) => c.external_id), ["PC"]);
  });

  test("a batch upsert endpoint", async () => {
    const { api, write } = await setup({ ...BATCH, endpoints: { upsert: { method: "POST", path: "/customers/batch/upsert" } } });
    api.seed({ external_id: "UA", name: "old" });
    const items = [item("UA"), item("UB")];
    const results = await write(items);
    assert.deepEqual(results.map((r) => r.ok && `${r.action} ${r.remoteId}`), [`created ${api.byKey("UA")!.id}`, `created ${api.byKey("UB")!.id}`]);
    assert.equal(api.byKey("UA")!.name, "Customer UA");
    assert.equal(api.customers.size, 2);
    assert.equal(api.requests[0]!.headers["idempotency-key"], batchIdempotencyKey(items));
  });
});

describe("rest destination, credentials", () => {
  const UPSERT = { endpoints: { upsert: { path: "/customers/by-key/{{key}}" } } };

  for (const [type, auth, header, expected] of [
    ["bearer", { type: "bearer", token: "${env:API_TOKEN}" }, "authorization", `Bearer ${ENV.API_TOKEN}`],
    ["api_key", { type: "api_key", header: "X-Api-Key", value: "${env:API_KEY}" }, "x-api-key", ENV.API_KEY],
    ["basic", { type: "basic", username: "ferry", password: "${env:API_PASSWORD}" }, "authorization", `Basic ${Buffer.from(`ferry:${ENV.API_PASSWORD}`).toString("base64")}`],
  ] as const) {
    test(`${type} credentials arrive as the ${header} header`, async () => {
      const { api, write } = await setup({ ...UPSERT, auth }, { type: "header", name: header, value: expected });
      const [r] = await write([item("A1")]);
      assert.equal(r!.ok, true);
      assert.equal(api.requests[0]!.headers[header], expected);
    });
  }

  test("OAuth2 client credentials: a token fetched once, renewed after a 401", async () => {
    const { api, write } = await setup(
      (a) => ({
        ...UPSERT,
        auth: {
          type: "oauth2_client_credentials",
          token_url: `${a.url}/oauth/token`,
          client_id: "ferry",
          client_secret: "${env:CLIENT_SECRET}",
          scope: "customers:write",
          audience: "https://api.example.com",
        },
      }),
      { type: "oauth2", clientId: "ferry", clientSecret: ENV.CLIENT_SECRET },
    );
    assert.ok((await write([item("O1")]))[0]!.ok);
    assert.ok((await write([item("O2")]))[0]!.ok);
    assert.equal(api.tokensIssued, 1);
    const form = new URLSearchParams(api.requests[0]!.body as string);
    assert.deepEqual(Object.fromEntries(form), {
      grant_type: "client_credentials",
      client_id: "ferry",
      client_secret: ENV.CLIENT_SECRET,
      scope: "customers:write",
      audience: "https://api.example.com",
    });
    api.revokeTokens();
    assert.ok((await write([item("O3")]))[0]!.ok);
    assert.equal(api.tokensIssued, 2);
    assert.deepEqual(
      api.requests.map((r) => `${r.status} ${r.path} ${r.headers.authorization ?? ""}`),
      [
        "200 /oauth/token ",
        "201 /customers/by-key/O1 Bearer tok-1",
        "201 /customers/by-key/O2 Bearer tok-1",
        "401 /customers/by-key/O3 Bearer tok-1",
        "200 /oauth/token ",
        "201 /customers/by-key/O3 Bearer tok-2",
      ],
    );
  });

  test("refused credentials answer every record, without throwing", async () => {
    const { api, write } = await setup({ ...UPSERT, auth: { type: "bearer", token: "${env:API_TOKEN}" } }, { type: "header", name: "authorization", value: "Bearer other" });
    const items = [item("B1"), item("B2")];
    const results = await write(items);
    assert.deepEqual(results.map((r) => !r.ok && r.error.code), ["DEST_UNAUTHORIZED", "DEST_UNAUTHORIZED"]);
    assert.equal(api.calls().length, 1, "the second record is not tried once the credentials are refused");
  });
});

describe("rest destination, an API that is down", () => {
  for (const mode of ["single", "batch"] as const) {
    test(`${mode}: a 503 is a transient error for every record, returned, not thrown`, async () => {
      const config = mode === "single" ? SINGLE : BATCH;
      const { api, write } = await setup(config);
      api.fail({ type: "status", status: 503, retryAfterSec: 0 }, { times: 100 });
      const items = [item("E1"), item("E2"), item("E3")];
      const results = await write(items);
      assert.equal(results.length, 3);
      for (const r of results) {
        const f = failure(r);
        assert.equal(f.error.kind, "transient");
        assert.equal(f.error.code, "DEST_UNAVAILABLE");
      }
      assert.equal(api.customers.size, 0);
      // Two attempts of the first request, then the write stops: the others are not to blame.
      assert.equal(api.calls().length, 2);
    });
  }
});

describe("rest destination, reading records back for remote_edits", () => {
  const READ = { ...SINGLE, remote_edits: "conflict", endpoints: { ...SINGLE.endpoints, read: { path: "/customers/{{remote_id}}", result_path: "data" } } };

  test("reads each record's changed properties by its remote id; a record gone is left out", async () => {
    const { api, destination } = await setup(READ);
    const c = api.seed({ external_id: "C", name: "Edited by a person", email: "c@example.com" });
    const i = item("C", { name: "Customer C", email: "c@example.com" }, { remoteId: c.id, changed: ["name"] });
    const gone = item("G", {}, { remoteId: "c-gone", changed: ["name"] });
    const read = await destination.readRemote!([i, gone], new AbortController().signal);
    assert.deepEqual([...read], [[i.outboxId, { name: "Edited by a person" }]]);
    assert.deepEqual(api.calls(), [`GET /customers/${c.id}`, "GET /customers/c-gone"]);
  });

  test("an answer without a record at result_path is refused with what to set", async () => {
    const { api, destination } = await setup({ ...READ, endpoints: { ...READ.endpoints, read: { path: "/customers/{{remote_id}}", result_path: "record" } } });
    const c = api.seed({ external_id: "C", name: "x" });
    await assert.rejects(
      destination.readRemote!([item("C", {}, { remoteId: c.id, changed: ["name"] })], new AbortController().signal),
      /holds no record at record: set endpoints\.read\.result_path/,
    );
  });

  test("remote_edits needs an update that sends only what changed", () => {
    const base = { type: "rest", base_url: "https://api.example.com", auth: { type: "none" }, ...READ };
    const full = { ...base, endpoints: { ...READ.endpoints, update: { method: "PATCH", path: "/customers/{{remote_id}}" } } };
    const parsed = restDestinationSchema.safeParse(full);
    assert.equal(parsed.success, false);
    assert.deepEqual(parsed.error?.issues[0]?.path, ["endpoints", "update", "body"]);
    assert.match(String(parsed.error?.issues[0]?.message), /write its body with \{\{changed\}\}/);
    assert.equal(restDestinationSchema.safeParse(base).success, true);
  });

  test("remote_edits other than overwrite needs endpoints.read", () => {
    const parsed = restDestinationSchema.safeParse({ type: "rest", base_url: "https://api.example.com", auth: { type: "none" }, ...SINGLE, remote_edits: "conflict" });
    assert.equal(parsed.success, false);
    assert.match(String(parsed.error?.issues[0]?.message), /give endpoints\.read/);
    const noRead = createRestDestination("crm", restDestinationSchema.parse({ type: "rest", base_url: "https://api.example.com", auth: { type: "none" }, ...SINGLE }), runContext({
      log: silentLogger,
      env: ENV,
      baseDir: ".",
      file: "ferry.yaml",
      block: "destinations.crm",
    }));
    assert.equal(noRead.readRemote, undefined);
  });
});
