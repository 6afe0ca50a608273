/**
 * Delivery to HubSpot through every fault its emulator can inject: each record ends created exactly once
 * (the emulator's ledger) or in the dead-letter queue with its reason. HubSpot's batch create takes no
 * idempotency key, so a create whose answer was lost is never repeated blindly: the next pass looks the
 * records up by their unique property first and updates what the lost attempt created.
 */
import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import { describe, it, type TestContext } from "node:test";
import { createDestinations } from "../../src/cli/context.ts";
import { deliverAll } from "../../src/delivery/deliver.ts";
import { createLogger, type Logger, silentLogger } from "../../src/log.ts";
import { startService } from "../../src/service/service.ts";
import { listDeadLetters } from "../../src/state/dead-letters.repo.ts";
import type { OutboxRow } from "../../src/state/outbox.repo.ts";
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

/** A logger whose JSON lines are kept, parsed, for tests that check what Ferry said. */
function capturedLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level: "debug",
    destination: new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split("\n")) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    }),
  });
  return { log, lines };
}

/** Resolves with the first value `check` returns that is not undefined (polled); fails past the deadline. */
async function until<T>(what: string, deadlineMs: number, check: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) assert.fail(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
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
    assert.ok(echoes <= 0, "both echoing answers were met");

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

describe("a destination that stays down", () => {
  it("a delivery gives up after its wait when every request answers 500: records pending, none blamed, the error says when it is tried again", { timeout: 60_000 }, async (t) => {
    const rows = customers(100);
    const p = await project(t, rows);
    assertStatus(await p.run("erp"));
    p.emulator.faults.add({ type: "status", status: 500 }, { times: Infinity });
    const started = Date.now();
    const tally = await p.deliver({ waitForRetriesMs: 2_000 });
    assert.ok(Date.now() - started < 20_000, `gave up within the wait (took ${Date.now() - started} ms)`);
    assert.deepEqual({ delivered: tally.delivered, dead: tally.dead, pending: tally.pending }, { delivered: 0, dead: 0, pending: 100 });
    assert.match(String(tally.error), /hubspot/);
    assert.match(String(tally.error), /500/);
    assert.match(String(tally.error), /next try/);
    const outbox = await stateRows<OutboxRow>(p.store, "outbox");
    assert.ok(outbox.every((r) => r.status === "pending" && r.attempts === 0), "no record blamed");
    assert.deepEqual(await listDeadLetters(p.store.knex), []);
  });

  it("every create answered 500 (the lookups fine) is HubSpot down, not 100 poison records", { timeout: 60_000 }, async (t) => {
    const rows = customers(100);
    const p = await project(t, rows);
    assertStatus(await p.run("erp"));
    p.emulator.faults.add({ type: "status", status: 500 }, { times: Infinity, path: "/batch/create" });
    const tally = await p.deliver({ waitForRetriesMs: 2_000 });
    assert.deepEqual({ delivered: tally.delivered, dead: tally.dead, pending: tally.pending }, { delivered: 0, dead: 0, pending: 100 });
    assert.ok(tally.error, "delivery stopped with the destination's error");
    const outbox = await stateRows<OutboxRow>(p.store, "outbox");
    assert.ok(outbox.every((r) => r.attempts === 0), "no attempt counted against a record");
    const creates = p.emulator.requests.filter((r) => r.path.endsWith("/batch/create")).length;
    assert.ok(creates < 60, `HubSpot was not asked record by record (${creates} creates)`);
  });

  it("ferry serve keeps trying a destination that is down, ever less often, and says so at warn level", { timeout: 60_000 }, async (t) => {
    const rows = customers(10);
    const p = await project(t, rows);
    assertStatus(await p.run("erp"));
    p.emulator.faults.add({ type: "status", status: 503 }, { times: Infinity });
    const { log, lines } = capturedLog();
    const destinations = createDestinations(p.project, log);
    const service = await startService({ project: p.project, store: p.store, destinations, log, deliveryIntervalMs: 20 });
    t.after(() => service.stop());
    const downs = () => lines.filter((l) => l.level === 40 && /down/.test(String(l.msg)) && l.destination === "hubspot");
    await until("three failed tries", 30_000, () => (downs().length >= 3 ? true : undefined));
    const tries = downs().map((l) => Date.parse(String(l.next_try_at)) - Date.parse(String(l.time ?? l.at)));
    assert.ok(downs().every((l) => typeof l.err === "string" && /503/.test(String(l.err))), "the warning names the last error");
    const gaps = downs().map((l) => Number(l.next_try_in_ms));
    assert.ok(gaps[2]! > gaps[0]!, `the tries come further apart: ${gaps.join(", ")} ms (${tries.join(", ")})`);
    await service.stop();
    const outbox = await stateRows<OutboxRow>(p.store, "outbox");
    assert.ok(outbox.every((r) => r.status === "pending" && r.attempts === 0));
  });
});

describe("a record HubSpot fails on, every time", () => {
  it("is isolated from its batch: the other 99 are delivered, it alone ends in the DLQ after max_attempts, and the log names it", { timeout: 60_000 }, async (t) => {
    const rows = customers(100);
    const p = await project(t, rows);
    const poison = custId(37);
    p.emulator.faults.add({ type: "status", status: 500 }, { times: Infinity, path: "/batch/create", body: `"${poison}"` });
    assertStatus(await p.run("erp"));
    const { log, lines } = capturedLog();
    const tally = await p.deliver({ log });
    assert.deepEqual({ created: tally.created, dead: tally.dead, pending: tally.pending }, { created: 99, dead: 1, pending: 0 });
    assertExactlyOnce(p, rows.filter((r) => r.CUST_ID !== poison));
    const [entry, ...more] = await listDeadLetters(p.store.knex);
    assert.equal(more.length, 0);
    assert.equal(entry!.key, poison);
    assert.equal(entry!.attempts, 3, "max_attempts deliveries, counted against the record");
    assert.equal((entry!.response as { status: number }).status, 500);
    assert.match(String((entry!.request as { url: string }).url), /\/batch\/create$/);
    assert.match(entry!.reason, /500/);
    assert.ok(lines.some((l) => l.key === poison && l.level === 40), "a warning names the record");
  });

  it("an unreadable 200 to a create HubSpot did not apply, for one record every time: it alone ends in the DLQ with the raw answer", { timeout: 60_000 }, async (t) => {
    const rows = customers(40);
    const p = await project(t, rows);
    const poison = custId(5);
    const unreadable = { type: "unreadable-before-apply", body: "<html>gateway says hi</html>" } as const;
    p.emulator.faults.add(unreadable, { times: Infinity, path: "/batch/create", body: `"${poison}"` });
    assertStatus(await p.run("erp"));
    const tally = await p.deliver();
    assert.deepEqual({ created: tally.created, dead: tally.dead, pending: tally.pending }, { created: 39, dead: 1, pending: 0 });
    const [entry] = await listDeadLetters(p.store.knex);
    assert.equal(entry!.key, poison);
    assert.deepEqual(entry!.response, { status: 200, body: "<html>gateway says hi</html>" });
  });
});

describe("an answer that does not say what happened", () => {
  it("an unreadable 200 to a create HubSpot applied: the records are looked up and delivered, none dead, none twice", { timeout: 60_000 }, async (t) => {
    const rows = customers(100);
    const p = await project(t, rows);
    assertStatus(await p.run("erp"));
    p.emulator.faults.add({ type: "unreadable-after-apply" }, { times: 1, path: "/batch/create" });
    const tally = await p.deliver();
    assert.deepEqual({ delivered: tally.delivered, dead: tally.dead, pending: tally.pending }, { delivered: 100, dead: 0, pending: 0 });
    assert.equal(p.emulator.faults.pending, 0, "the fault was met");
    assert.deepEqual(await listDeadLetters(p.store.knex), []);
    assertExactlyOnce(p, rows);
  });
});

describe("refused credentials", () => {
  it("a 401 with a static token stops delivery at once, names the secret to check, blames no record; fixed, the next delivery sends it", {
    timeout: 60_000,
  }, async (t) => {
    const rows = customers(100);
    const p = await createTestProject({
      backend: "sqlite",
      legacy: { CUSTOMERS: customerTable(rows) },
      mappings: { customer: customerMapping() },
      jobs: { erp: erpSnapshotJob({ batch_size: 100 }) },
      hubspot: { token: "${env:WRONG_TOKEN}" },
      env: { WRONG_TOKEN: "a-token-revoked-yesterday" },
    });
    t.after(() => p.cleanup());
    assertStatus(await p.run("erp"));
    const started = Date.now();
    const refused = (await p.deliverAll({ waitForRetriesMs: 15_000 })).get("hubspot")!;
    assert.ok(Date.now() - started < 5_000, `stopped at once (took ${Date.now() - started} ms)`);
    assert.deepEqual([refused.delivered, refused.dead, refused.pending], [0, 0, 100]);
    assert.equal(refused.errorCode, "DEST_UNAUTHORIZED");
    assert.match(String(refused.error), /destinations\.hubspot\.token/);
    assert.equal(p.emulator.requests.filter((r) => r.status === 401).length, 1, "one refusal is enough");
    const outbox = await stateRows<OutboxRow>(p.store, "outbox");
    assert.ok(outbox.every((r) => r.attempts === 0));

    p.writeFile("ferry.yaml", readFileSync(path.join(p.dir, "ferry.yaml"), "utf8").replace("${env:WRONG_TOKEN}", "${env:HUBSPOT_TOKEN}"));
    p.reload();
    const fixed = await p.deliver();
    assert.deepEqual([fixed.created, fixed.pending, fixed.error], [100, 0, undefined]);
  });
});
