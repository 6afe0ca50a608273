/**
 * Delivery to HubSpot through every fault its emulator can inject: each record ends created exactly once
 * (the emulator's ledger) or in the dead-letter queue with its reason. HubSpot's batch create takes no
 * idempotency key, so a create whose answer was lost is never repeated blindly: the next pass looks the
 * records up by their unique property first and updates what the lost attempt created.
 */
import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { describe, it, type TestContext } from "node:test";
import { createDestinations } from "../../src/cli/context.ts";
import { deliverAll } from "../../src/delivery/deliver.ts";
import { createLogger, silentLogger } from "../../src/log.ts";
import { listDeadLetters } from "../../src/state/dead-letters.repo.ts";
import { byCustomerNo, custId, customerMapping, customers, customerTable, erpSnapshotJob } from "../support/customers.ts";
import { assertStatus, createTestProject, type LegacyRow, stateRows, type TestProject } from "../support/project.ts";

async function project(t: TestContext, rows: LegacyRow[], options: Parameters<typeof createTestProject>[0]["emulator"] = {}, hubspot = {}) {
  const p = await createTestProject({
    backend: "sqlite",
    legacy: { CUSTOMERS: customerTable(rows) },
    mappings: { customer: customerMapping() },
    jobs: { erp: erpSnapshotJob({ batch_size: 100 }) },
    emulator: options,
    hubspot: { timeout: "1s", circuit_breaker: { failures: 3, open_for: "500ms" }, ...hubspot },
  });
  t.after(() => p.cleanup());
  return p;
}

function assertExactlyOnce(p: TestProject, rows: LegacyRow[]) {
  const created = p.emulator.ledger.of("contacts", "create").map((e) => String(e.properties.customer_no));
  assert.equal(created.length, new Set(created).size, "no customer created twice");
  assert.deepEqual([...byCustomerNo(p.emulator.records("contacts")).keys()].sort(), rows.map((r) => String(r.CUST_ID)).sort());
}

describe("delivery to HubSpot through faults", () => {
  const faults = [
    ["502s", { type: "status", status: 502 } as const, 2, "/batch/create"],
    ["a create that never answers", { type: "hang" } as const, 1, "/batch/create"],
    ["a connection reset after HubSpot applied the creates", { type: "reset-after-apply" } as const, 2, "/batch/create"],
    ["a connection reset before anything was applied", { type: "reset-before-apply" } as const, 1, "/batch/create"],
    ["a lookup that never answers", { type: "hang" } as const, 1, "/batch/read"],
  ] as const;
  for (const [what, fault, times, path] of faults) {
    it(`delivers every record exactly once through ${what}`, async (t) => {
      const rows = customers(250);
      const p = await project(t, rows);
      assertStatus(await p.run("erp"));
      p.emulator.faults.add(fault, { times, path });
      const tally = await p.deliver();
      assert.deepEqual({ delivered: tally.delivered, dead: tally.dead, pending: tally.pending }, { delivered: 250, dead: 0, pending: 0 });
      assert.equal(p.emulator.faults.pending, 0, "the fault was met");
      assertExactlyOnce(p, rows);
    });
  }

  it("renews an expired OAuth token and carries on", async (t) => {
    const rows = customers(120);
    const oauth = { clientId: "ferry-app", clientSecret: "hs-client-secret-01", refreshToken: "hs-refresh-token-01" };
    const p = await createTestProject({
      backend: "sqlite",
      legacy: { CUSTOMERS: customerTable(rows) },
      mappings: { customer: customerMapping() },
      jobs: { erp: erpSnapshotJob({ batch_size: 100 }) },
      emulator: { token: null, oauth },
      hubspot: {
        token: undefined,
        oauth: { client_id: "ferry-app", client_secret: "${env:HS_SECRET}", refresh_token: "${env:HS_REFRESH}" },
      },
      env: { HS_SECRET: oauth.clientSecret, HS_REFRESH: oauth.refreshToken },
    });
    t.after(() => p.cleanup());
    const destinations = createDestinations(p.project, silentLogger);
    t.after(async () => {
      for (const d of destinations.values()) await d.close();
    });
    const deliver = async () => (await deliverAll(p.project, p.store, destinations, { log: silentLogger, waitForRetriesMs: 15_000 })).get("hubspot")!;
    assertStatus(await p.run("erp"));
    assert.equal((await deliver()).created, 120);
    p.emulator.expireTokens();
    p.legacy("UPDATE CUSTOMERS SET PHONE = '+1 555 0101' WHERE CUST_ID = ?", custId(1));
    assertStatus(await p.run("erp"));
    assert.deepEqual((await deliver()).updated, 1);
    assert.equal(p.emulator.requests.filter((r) => r.status === 401).length, 1);
    assert.equal(p.emulator.requests.filter((r) => r.path === "/oauth/v1/token").length, 2);
    assertExactlyOnce(p, rows);
  });

  it("sends the other records when HubSpot refuses a batch whole for one value; that record goes to the DLQ", async (t) => {
    const rows = customers(100);
    const p = await project(t, rows);
    p.emulator.rejectValues("contacts", "lastname", [String(rows[41]!.LAST_NM)]);
    assertStatus(await p.run("erp"));
    const tally = await p.deliver();
    assert.deepEqual({ created: tally.created, dead: tally.dead }, { created: 99, dead: 1 });
    const [entry] = await listDeadLetters(p.store.knex);
    assert.equal(entry!.key, custId(42));
    assert.match(entry!.reason, /lastname/);
    assert.equal((entry!.response as { status: number }).status, 400);
    assert.match(String((entry!.request as { url: string }).url), /\/crm\/v3\/objects\/contacts\/batch\/create$/);
  });
});

describe("secrets never leak", () => {
  it("keeps a canary token out of logs, errors, the DLQ and the state store, even when the API echoes it", async (t) => {
    const canary = "canary-7f3a9c1e5b2d4e6f8a0b";
    const rows = customers(20);
    // An API that echoes the credential in its error answers: the worst case for leaking it.
    let echoes = 2;
    let upstreamUrl = "";
    const proxy = createServer((req, res) => {
      if (echoes-- > 0) {
        res.writeHead(echoes === 1 ? 500 : 400, { "content-type": "application/json" });
        res.end(JSON.stringify({ status: "error", message: `bad request for ${req.headers.authorization}`, category: "VALIDATION_ERROR" }));
        return;
      }
      const upstream = request(`${upstreamUrl}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    t.after(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
    const p = await createTestProject({
      backend: "sqlite",
      legacy: { CUSTOMERS: customerTable(rows) },
      mappings: { customer: customerMapping() },
      jobs: { erp: erpSnapshotJob({ batch_size: 100 }) },
      emulator: { token: canary },
      hubspot: { max_attempts: 1 },
      env: { HUBSPOT_BASE_URL: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, HUBSPOT_TOKEN: canary },
    });
    t.after(() => p.cleanup());
    upstreamUrl = p.emulator.url;

    const lines: string[] = [];
    const log = createLogger({
      level: "debug",
      destination: new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    });
    assertStatus(await p.run("erp", { log }));
    const destinations = createDestinations(p.project, log);
    const tallies = await deliverAll(p.project, p.store, destinations, { log, waitForRetriesMs: 15_000 });
    for (const d of destinations.values()) await d.close();
    const tally = tallies.get("hubspot")!;
    assert.ok(tally.dead > 0, "the echoing answers sent records to the DLQ");
    assert.equal(echoes, 0, "both echoing answers were met");

    const everything = [
      lines.join(""),
      JSON.stringify(tally),
      JSON.stringify(await listDeadLetters(p.store.knex, { all: true })),
      JSON.stringify(await stateRows(p.store, "outbox")),
      JSON.stringify(await stateRows(p.store, "runs")),
      JSON.stringify(await stateRows(p.store, "destination_records")),
    ].join("\n");
    assert.ok(everything.includes("bad request for Bearer ***"), "the echoed credential is there, scrubbed");
    assert.ok(!everything.includes(canary), "the canary token appears nowhere");
  });
});
