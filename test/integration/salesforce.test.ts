/**
 * Delivery to Salesforce end to end: a legacy table through runJob into the Salesforce emulator, through
 * every fault the emulator can inject. Whatever happens, each record ends delivered exactly once (the
 * emulator's ledger shows one create per key) or in the dead-letter queue with its reason.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import type { TestContext } from "node:test";
import { describe, it } from "node:test";
import { type SalesforceEmulator, startSalesforceEmulator } from "../../fixtures/salesforce-emulator/emulator.ts";
import { createDestinations } from "../../src/cli/context.ts";
import { deliverAll } from "../../src/delivery/deliver.ts";
import { silentLogger } from "../../src/log.ts";
import { replayDeadLetters } from "../../src/operate/dead-letters.ts";
import { listDeadLetters } from "../../src/state/dead-letters.repo.ts";
import { custId, customerMapping, customers, customerTable, erpSnapshotJob } from "../support/customers.ts";
import { assertStatus, createTestProject, type LegacyRow, stateRows, type TestProject } from "../support/project.ts";

const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const PUBLIC_PEM = publicKey.export({ type: "spki", format: "pem" }).toString();
const PRIVATE_PEM = privateKey.export({ type: "pkcs8", format: "pem" }).toString();

function mapping() {
  const m = customerMapping();
  return {
    ...m,
    destinations: {
      salesforce: {
        object: "Account",
        match: { property: "Ferry_Key__c" },
        fields: { customer_no: "Ferry_Key__c", first_name: "FirstName__c", last_name: "Name", email: "Email__c", phone: "Phone" },
      },
    },
  };
}

interface Setup {
  p: TestProject;
  sf: SalesforceEmulator;
}

async function setup(t: TestContext, rows: LegacyRow[], settings: Record<string, unknown> = {}, flow: "jwt" | "client" = "jwt"): Promise<Setup> {
  const sf = await startSalesforceEmulator({
    objects: { Account: { externalIdFields: ["Ferry_Key__c"] } },
    clients: [{ clientId: "ferry-app", clientSecret: "sf-client-secret-0001" }],
    jwt: [{ clientId: "ferry-app", username: "integration@example.com", publicKeyPem: PUBLIC_PEM }],
  });
  t.after(() => sf.close());
  const oauth =
    flow === "jwt"
      ? { flow: "jwt_bearer", client_id: "ferry-app", username: "integration@example.com", private_key: "${env:SF_KEY}" }
      : { flow: "client_credentials", client_id: "ferry-app", client_secret: "${env:SF_SECRET}" };
  const p = await createTestProject({
    backend: "sqlite",
    legacy: { CUSTOMERS: customerTable(rows) },
    mappings: { customer: mapping() },
    jobs: { erp: erpSnapshotJob({ batch_size: 100, destinations: ["salesforce"] }) },
    destinations: {
      salesforce: {
        type: "salesforce",
        login_url: "${env:SF_URL}",
        oauth,
        rate_limit: null,
        max_attempts: 3,
        timeout: "1s",
        circuit_breaker: { failures: 3, open_for: "500ms" },
        ...settings,
      },
    },
    env: { SF_URL: sf.url, SF_KEY: PRIVATE_PEM, SF_SECRET: "sf-client-secret-0001" },
  });
  t.after(() => p.cleanup());
  return { p, sf };
}

async function sync({ p }: Setup) {
  assertStatus(await p.run("erp"), ["succeeded", "partial"]);
  return (await p.deliverAll()).get("salesforce")!;
}

/** Every key of the table created once in Salesforce, none twice, none missing. */
function assertExactlyOnce(sf: SalesforceEmulator, keys: readonly string[]) {
  assert.deepEqual(sf.ledger.duplicateCreates("Account"), [], "no record created twice");
  const live = new Map(sf.records("Account").map((r) => [String(r.Ferry_Key__c), r]));
  assert.deepEqual([...live.keys()].sort(), [...keys].sort());
}

const keysOf = (rows: LegacyRow[]) => rows.map((r) => String(r.CUST_ID));

describe("delivery to Salesforce", () => {
  it("creates, updates only what changed, and deletes, with a JWT bearer token", async (t) => {
    const rows = customers(250);
    const s = await setup(t, rows);
    const first = await sync(s);
    assert.deepEqual({ created: first.created, dead: first.dead, pending: first.pending }, { created: 250, dead: 0, pending: 0 });
    assertExactlyOnce(s.sf, keysOf(rows));
    const upserts = s.sf.requests.filter((r) => r.method === "PATCH");
    assert.deepEqual(
      upserts.map((r) => (r.body as { records: unknown[] }).records.length),
      [200, 50],
      "200 records per request",
    );
    assert.equal(s.sf.requests.filter((r) => r.path === "/services/oauth2/token").length, 1, "one token for the whole run");

    s.p.legacy("UPDATE CUSTOMERS SET PHONE = ? WHERE CUST_ID = ?", "+1 555 0100", custId(7));
    s.p.legacy("DELETE FROM CUSTOMERS WHERE CUST_ID = ?", custId(9));
    s.sf.clearLog();
    const second = await sync(s);
    assert.deepEqual({ updated: second.updated, deleted: second.deleted, dead: second.dead }, { updated: 1, deleted: 1, dead: 0 });
    const patch = s.sf.requests.find((r) => r.method === "PATCH")!;
    assert.deepEqual((patch.body as { records: unknown[] }).records, [
      { attributes: { type: "Account" }, Phone: "+1 555 0100", Ferry_Key__c: custId(7) },
    ]);
    assert.equal(s.sf.findBy("Account", "Ferry_Key__c", custId(9)), undefined);
    assert.equal(s.sf.ledger.of("Account", "delete").length, 1);
  });

  it("takes a client-credentials token and renews it when Salesforce expires it", async (t) => {
    const rows = customers(120);
    const s = await setup(t, rows, {}, "client");
    // One destination across both deliveries, as `ferry serve` keeps it: its token is cached between them.
    const destinations = createDestinations(s.p.project, silentLogger);
    t.after(async () => {
      for (const d of destinations.values()) await d.close();
    });
    const deliver = async () =>
      (await deliverAll(s.p.project, s.p.store, destinations, { log: silentLogger, waitForRetriesMs: 15_000 })).get("salesforce")!;
    assertStatus(await s.p.run("erp"));
    assert.equal((await deliver()).created, 120);
    s.sf.expireTokens();
    for (let i = 1; i <= 120; i += 10) s.p.legacy("UPDATE CUSTOMERS SET PHONE = ? WHERE CUST_ID = ?", `+1 555 ${i}`, custId(i));
    assertStatus(await s.p.run("erp"));
    const again = await deliver();
    assert.deepEqual({ updated: again.updated, dead: again.dead }, { updated: 12, dead: 0 });
    assert.equal(s.sf.requests.filter((r) => r.status === 401).length, 1, "the expired token was refused once");
    assert.equal(s.sf.requests.filter((r) => r.path === "/services/oauth2/token").length, 2, "then renewed");
    assertExactlyOnce(s.sf, keysOf(rows));
  });

  const faults = [
    ["500s", { type: "status", status: 500 } as const, 2],
    ["429 with Retry-After", { type: "status", status: 429, retryAfterSec: 1 } as const, 1],
    ["REQUEST_LIMIT_EXCEEDED", { type: "status", status: 403 } as const, 1],
    ["a request that never answers", { type: "hang" } as const, 1],
    ["a connection reset after Salesforce applied the upsert", { type: "reset-after-apply" } as const, 2],
    ["a connection reset before anything was applied", { type: "reset-before-apply" } as const, 1],
  ] as const;
  for (const [what, fault, times] of faults) {
    it(`delivers every record exactly once through ${what}`, async (t) => {
      const rows = customers(450);
      const s = await setup(t, rows);
      assertStatus(await s.p.run("erp"));
      s.sf.faults.add(fault, { times, method: "PATCH" });
      const tally = (await s.p.deliverAll()).get("salesforce")!;
      assert.deepEqual({ delivered: tally.delivered, dead: tally.dead, pending: tally.pending }, { delivered: 450, dead: 0, pending: 0 });
      assert.equal(s.sf.faults.pending, 0, "the fault was met");
      assertExactlyOnce(s.sf, keysOf(rows));
    });
  }

  it("delivers the rest of a request when Salesforce refuses one record, which goes to the DLQ with its reason", async (t) => {
    const rows = customers(50);
    const s = await setup(t, rows);
    s.sf.rejectWhen("Account", "Email__c", String(rows[4]!.EMAIL), "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Email domain is blocked");
    const tally = await sync(s);
    assert.deepEqual({ created: tally.created, dead: tally.dead }, { created: 49, dead: 1 });
    const [entry, ...more] = await listDeadLetters(s.p.store.knex);
    assert.equal(more.length, 0);
    assert.equal(entry!.key, custId(5));
    assert.equal(entry!.code, "DEST_REJECTED");
    assert.match(entry!.reason, /FIELD_CUSTOM_VALIDATION_EXCEPTION: Email domain is blocked/);
    assert.deepEqual((entry!.request as { method: string }).method, undefined);
    assert.equal((entry!.request as { record: { Ferry_Key__c: string } }).record.Ferry_Key__c, custId(5));
  });

  it("isolates a record Salesforce answers 500 for, every time: the rest are delivered, it alone ends in the DLQ", { timeout: 60_000 }, async (t) => {
    const rows = customers(250);
    const s = await setup(t, rows);
    const poison = custId(230);
    s.sf.faults.add({ type: "status", status: 500 }, { times: Infinity, method: "PATCH", body: `"${poison}"` });
    const tally = await sync(s);
    assert.deepEqual({ created: tally.created, dead: tally.dead, pending: tally.pending }, { created: 249, dead: 1, pending: 0 });
    const [entry, ...more] = await listDeadLetters(s.p.store.knex);
    assert.equal(more.length, 0);
    assert.equal(entry!.key, poison);
    assert.equal(entry!.code, "DEST_RECORD_FAILED");
    assert.equal(entry!.attempts, 3);
    assert.equal((entry!.response as { status: number }).status, 500);
    assertExactlyOnce(s.sf, keysOf(rows).filter((k) => k !== poison));
  });

  it("an upsert answered 200 with a body that cannot be read is sent again (upserts are safe to repeat): none dead, none twice", async (t) => {
    const rows = customers(120);
    const s = await setup(t, rows);
    s.sf.faults.add({ type: "unreadable-after-apply" }, { times: 1, method: "PATCH" });
    const tally = await sync(s);
    assert.deepEqual({ delivered: tally.delivered, dead: tally.dead, pending: tally.pending }, { delivered: 120, dead: 0, pending: 0 });
    assert.equal(s.sf.faults.pending, 0);
    assertExactlyOnce(s.sf, keysOf(rows));
  });

  it("pauses while Salesforce is down, and resumes by itself when it is back, dropping nothing", async (t) => {
    const rows = customers(300);
    const s = await setup(t, rows);
    assertStatus(await s.p.run("erp"));
    // Down for six requests: the breaker opens after 3, lets a trial through after 500 ms, then after twice as
    // long each time a trial fails (1 s, 2 s, 4 s): the fourth trial finds Salesforce back.
    s.sf.faults.add({ type: "status", status: 503 }, { times: 6 });
    const tally = (await s.p.deliverAll({ waitForRetriesMs: 30_000 })).get("salesforce")!;
    assert.deepEqual({ delivered: tally.delivered, dead: tally.dead, pending: tally.pending }, { delivered: 300, dead: 0, pending: 0 });
    assert.ok(tally.held > 0, "records were held back, not blamed");
    const outbox = await stateRows<{ attempts: number }>(s.p.store, "outbox");
    assert.ok(outbox.every((r) => r.attempts === 0), "no attempt counted against a record while Salesforce was down");
    assertExactlyOnce(s.sf, keysOf(rows));
  });

  it("replays a dead letter once the cause is fixed, delivering it once", async (t) => {
    const rows = customers(30);
    const s = await setup(t, rows);
    assertStatus(await s.p.run("erp"));
    // Salesforce refuses the whole request (as it does for a field it does not know): every record dies.
    s.sf.faults.add({ type: "status", status: 400 }, { times: 1, method: "PATCH" });
    const first = (await s.p.deliverAll()).get("salesforce")!;
    assert.deepEqual({ created: first.created, dead: first.dead }, { created: 0, dead: 30 });
    const entries = await listDeadLetters(s.p.store.knex);
    assert.equal(entries.length, 30);
    assert.equal((entries[0]!.response as { status: number }).status, 400);

    await replayDeadLetters(s.p.store, { destination: "salesforce" }, "ops@example.com");
    assert.equal((await listDeadLetters(s.p.store.knex)).length, 0);
    const replay = (await s.p.deliverAll()).get("salesforce")!;
    assert.deepEqual({ created: replay.created, dead: replay.dead }, { created: 30, dead: 0 });
    assertExactlyOnce(s.sf, keysOf(rows));
    const audit = await stateRows<{ action: string; actor: string }>(s.p.store, "audit_log");
    assert.equal(audit.filter((a) => a.action === "dlq_replay" && a.actor === "ops@example.com").length, 30);
  });
});
