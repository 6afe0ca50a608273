import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { startHubSpotEmulator } from "../../fixtures/hubspot-emulator/emulator.ts";
import { HUBSPOT_CONTRACT_DIR, loadHubSpotContract, validateExchanges } from "./hubspot-contract.ts";

const missingMessage = `../shared/contracts/hubspot not found: ${fileURLToPath(HUBSPOT_CONTRACT_DIR)} holds HubSpot's OpenAPI specs`;

test("every request the HubSpot emulator receives and every answer it gives conform to HubSpot's spec", async (t) => {
  const contract = await loadHubSpotContract();
  if (contract === null) {
    if (process.env.FERRY_REQUIRE_SERVICES === "1") assert.fail(missingMessage);
    t.skip(missingMessage);
    return;
  }
  const emulator = await startHubSpotEmulator({
    token: "contract-token",
    uniqueProperties: { contacts: ["customer_no"], companies: ["company_no"] },
  });
  t.after(() => emulator.close());
  const send = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${emulator.url}${path}`, {
      method,
      headers: { authorization: "Bearer contract-token", "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the test reads ids out of arbitrary JSON answers
    return { status: response.status, body: (text === "" ? undefined : JSON.parse(text)) as any };
  };

  for (const [type, unique, key] of [
    ["contacts", "email", "customer_no"],
    ["companies", "domain", "company_no"],
  ] as const) {
    const base = `/crm/v3/objects/${type}`;
    const created = await send("POST", `${base}/batch/create`, {
      inputs: [
        { properties: { [unique]: "one@example.com", [key]: "K1", name: "One" }, associations: [] },
        { properties: { [unique]: "two@example.com", [key]: "K2", name: "Two" }, associations: [] },
      ],
    });
    assert.equal(created.status, 201);
    const [first] = created.body.results as { id: string }[];
    assert.ok(first);
    const readBody = (ids: string[]) => ({
      inputs: ids.map((id) => ({ id })),
      idProperty: key,
      properties: [unique, "name"],
      propertiesWithHistory: ["name"],
    });
    assert.equal((await send("POST", `${base}/batch/read`, readBody(["K1", "K2"]))).status, 200);
    assert.equal((await send("POST", `${base}/batch/read`, readBody(["K1", "K9"]))).status, 207);
    const update = await send("POST", `${base}/batch/update`, {
      inputs: [
        { id: "K2", idProperty: key, properties: { name: "Deux" } },
        { id: "999999", properties: { name: "Nobody" } },
      ],
    });
    assert.equal(update.status, 207);
    assert.equal((await send("POST", `${base}/batch/create`, { inputs: [] })).status, 201);
    const conflict = await send("POST", `${base}/batch/create`, {
      inputs: [{ properties: { [key]: "K1" }, associations: [] }],
    });
    assert.equal(conflict.status, 409);
    assert.equal((await send("GET", `${base}/${first.id}?properties=name`)).status, 200);
    assert.equal((await send("PATCH", `${base}/${first.id}`, { properties: { name: "Uno" } })).status, 200);
    assert.equal((await send("GET", `${base}?limit=1`)).status, 200);
    assert.equal((await send("POST", `${base}/batch/archive`, { inputs: [{ id: first.id }] })).status, 204);
    assert.equal((await send("GET", `${base}/${first.id}`)).status, 404);
  }
  const single = await send("POST", "/crm/v3/objects/contacts", {
    properties: { email: "solo@example.com" },
    associations: [],
  });
  assert.equal(single.status, 201);
  const invalid = await send("POST", "/crm/v3/objects/contacts/batch/create", {
    inputs: [{ properties: { email: "nope" }, associations: [] }],
  });
  assert.equal(invalid.status, 400);

  assert.equal(emulator.requests.length, 24);
  assert.deepEqual(validateExchanges(contract, emulator.requests), []);
});

test("the HubSpot contract rejects requests and answers that break the spec", async (t) => {
  const contract = await loadHubSpotContract();
  if (contract === null) {
    if (process.env.FERRY_REQUIRE_SERVICES === "1") assert.fail(missingMessage);
    t.skip(missingMessage);
    return;
  }
  const auth = { authorization: "Bearer t" };
  const create = "/crm/v3/objects/contacts/batch/create";
  assert.deepEqual(
    contract.validateRequest({
      method: "POST",
      path: create,
      body: { inputs: [{ properties: { email: "a@b.co" }, associations: [] }] },
      headers: auth,
    }),
    [],
  );
  const noProperties = contract.validateRequest({
    method: "POST",
    path: create,
    body: { inputs: [{ associations: [] }] },
  });
  assert.equal(noProperties.length, 1);
  assert.match(noProperties[0]!, /\/inputs\/0 must have required property 'properties'/);
  const numeric = contract.validateRequest({
    method: "POST",
    path: create,
    body: { inputs: [{ properties: { age: 5 }, associations: [] }] },
  });
  assert.match(numeric.join("\n"), /\/inputs\/0\/properties\/age must be string/);
  const noHistory = contract.validateRequest({
    method: "POST",
    path: "/crm/v3/objects/companies/batch/read",
    body: { inputs: [{ id: "1" }], properties: [] },
  });
  assert.match(noHistory.join("\n"), /must have required property 'propertiesWithHistory'/);
  assert.match(
    contract
      .validateRequest({ method: "POST", path: "/crm/v3/objects/contacts/batch/upsert", body: {} })
      .join(),
    /no such path/,
  );
  assert.match(
    contract.validateRequest({ method: "PUT", path: "/crm/v3/objects/contacts/12", body: {} }).join(),
    /method not allowed/,
  );
  assert.match(
    contract.validateRequest({ method: "GET", path: "/crm/v3/objects/contacts/12", headers: {} }).join(),
    /Authorization: Bearer/,
  );
  assert.match(
    contract
      .validateResponse({
        method: "GET",
        path: "/crm/v3/objects/contacts/12",
        status: 404,
        body: { category: "OBJECT_NOT_FOUND", message: "gone", correlationId: "not-a-uuid" },
      })
      .join(),
    /correlationId must match format "uuid"/,
  );
  assert.match(
    contract
      .validateResponse({
        method: "POST",
        path: "/crm/v3/objects/contacts/batch/archive",
        status: 204,
        body: {},
      })
      .join(),
    /must have no body/,
  );
});
