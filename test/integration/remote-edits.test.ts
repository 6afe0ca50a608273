/**
 * Edits made in the SaaS (three-way): a person changes a field in HubSpot or Salesforce after Ferry pushed
 * it, then the legacy system changes the same field. With `remote_edits: conflict` the update leaves the
 * person's value and an operator decides; with `destination_wins` the person's value stays and the next
 * change from the sources goes through; with the default `overwrite` Ferry's value wins.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { startSalesforceEmulator } from "../../fixtures/salesforce-emulator/emulator.ts";
import { resolveConflict } from "../../src/operate/resolve.ts";
import { listAudit } from "../../src/state/audit.repo.ts";
import { listConflicts } from "../../src/state/conflicts.repo.ts";
import { getGolden } from "../../src/state/golden.repo.ts";
import { loadHubSpotContract, validateExchanges } from "../contract/hubspot-contract.ts";
import { byCustomerNo, custId, customerMapping, customers, customerTable, erpSnapshotJob } from "../support/customers.ts";
import { assertStatus, BACKENDS, backendSkip, createTestProject, TEST_TOKEN, type TestProject } from "../support/project.ts";

const ROWS = customers(4);

async function project(t: TestContext, backend: (typeof BACKENDS)[number], remoteEdits?: string): Promise<TestProject> {
  const p = await createTestProject({
    backend,
    legacy: { CUSTOMERS: customerTable(ROWS) },
    mappings: { customer: customerMapping() },
    jobs: { erp: erpSnapshotJob() },
    hubspot: { circuit_breaker: { failures: 3, open_for: "200ms" }, ...(remoteEdits ? { remote_edits: remoteEdits } : {}) },
  });
  t.after(() => p.cleanup());
  assertStatus(await p.run("erp"));
  assert.equal((await p.deliver()).created, ROWS.length);
  return p;
}

/** A person's edit in HubSpot, through its API. */
async function editInHubSpot(p: TestProject, key: string, properties: Record<string, string>) {
  const id = p.emulator.findBy("contacts", "customer_no", key)!.id;
  const res = await fetch(`${p.emulator.url}/crm/v3/objects/contacts/batch/update`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ inputs: [{ id, properties }] }),
  });
  assert.equal(res.status, 200);
}

const hubspot = (p: TestProject, key: string) => byCustomerNo(p.emulator.records("contacts")).get(key)!.properties;
const openConflicts = async (p: TestProject) => listConflicts(p.store.knex, { status: "open" });

for (const backend of BACKENDS) {
  describe(`edits made in HubSpot (${backend} state)`, { skip: await backendSkip(backend) }, () => {
    it("remote_edits: conflict leaves a person's edit alone, opens a conflict, and follows the operator's decision", async (t) => {
      const p = await project(t, backend, "conflict");
      await editInHubSpot(p, custId(1), { phone: "+1 555 0101" });
      await editInHubSpot(p, custId(2), { segment: "vip" });
      p.legacy("UPDATE CUSTOMERS SET PHONE = ?, EMAIL = ? WHERE CUST_ID = ?", "+49 30 9999001", "new1@erp.example", custId(1));
      p.legacy("UPDATE CUSTOMERS SET SEGMENT_CD = 'R' WHERE CUST_ID = ?", custId(2));
      p.legacy("UPDATE CUSTOMERS SET PHONE = ? WHERE CUST_ID = ?", "+49 30 9999003", custId(3));
      assertStatus(await p.run("erp"));
      p.emulator.clearLog();
      const tally = await p.deliver();

      assert.equal(tally.remoteEdits, 2);
      assert.equal(tally.dead, 0);
      assert.equal(hubspot(p, custId(1)).phone, "+1 555 0101", "the person's phone stays");
      assert.equal(hubspot(p, custId(1)).email, "new1@erp.example", "the rest of the update goes through");
      assert.equal(hubspot(p, custId(2)).segment, "vip");
      assert.equal(hubspot(p, custId(3)).phone, "+49 30 9999003", "a field nobody edited is updated");
      const updates = p.emulator.requests.filter((r) => r.path.endsWith("/batch/update"));
      const sent = updates.flatMap((r) => (r.body as { inputs: { properties: object }[] }).inputs.map((i) => i.properties));
      assert.deepEqual(sent, [{ email: "new1@erp.example" }, { phone: "+49 30 9999003" }], "nothing is sent for C0002");

      const conflicts = (await openConflicts(p)).sort((a, b) => a.key.localeCompare(b.key));
      assert.deepEqual(
        conflicts.map((c) => [c.key, c.field, c.current.value, c.candidates.map((x) => [x.source, x.value])]),
        [
          [custId(1), "phone", "+49 30 9999001", [["destination:hubspot", "+1 555 0101"]]],
          [custId(2), "segment", "retail", [["destination:hubspot", "vip"]]],
        ],
      );
      assert.equal((await getGolden(p.store.knex, "customer", custId(1)))?.fields.phone?.conflicted, true);

      // Nothing new: the conflicts stay as they are, nothing is sent.
      assertStatus(await p.run("erp"));
      p.emulator.clearLog();
      await p.deliver();
      assert.equal(p.emulator.requests.length, 0);
      assert.equal((await openConflicts(p)).length, 2);

      // A newer change from the ERP while the conflict is open: recorded, still not sent over the edit.
      p.legacy("UPDATE CUSTOMERS SET PHONE = ? WHERE CUST_ID = ?", "+49 30 9999011", custId(1));
      assertStatus(await p.run("erp"));
      await p.deliver();
      assert.equal(hubspot(p, custId(1)).phone, "+1 555 0101");
      const c1 = (await openConflicts(p)).find((c) => c.key === custId(1))!;
      assert.equal(c1.current.value, "+49 30 9999011");

      // The operator keeps the person's phone: the golden record takes it, HubSpot keeps it.
      await resolveConflict(p.project, p.store, c1.id, { use: "destination:hubspot" }, "ops@example.com");
      const golden = await getGolden(p.store.knex, "customer", custId(1));
      assert.deepEqual([golden?.fields.phone?.value, golden?.fields.phone?.source], ["+1 555 0101", "destination:hubspot"]);
      const afterKeep = await p.deliver();
      assert.equal(afterKeep.remoteEdits, 0);
      assert.equal(hubspot(p, custId(1)).phone, "+1 555 0101");

      // The operator overrules the person's segment: the ERP's value is pushed over the edit, once.
      const c2 = (await openConflicts(p)).find((c) => c.key === custId(2))!;
      await resolveConflict(p.project, p.store, c2.id, { use: "erp" }, "ops@example.com");
      const afterOverrule = await p.deliver();
      assert.deepEqual([afterOverrule.updated, afterOverrule.remoteEdits], [1, 0]);
      assert.equal(hubspot(p, custId(2)).segment, "retail");
      assert.deepEqual(await openConflicts(p), []);
      assert.equal((await getGolden(p.store.knex, "customer", custId(2)))?.fields.segment?.conflicted, undefined);

      // A later edit in HubSpot is a new edit, acted on once more.
      await editInHubSpot(p, custId(2), { segment: "vip again" });
      p.legacy("UPDATE CUSTOMERS SET SEGMENT_CD = 'W' WHERE CUST_ID = ?", custId(2));
      assertStatus(await p.run("erp"));
      assert.equal((await p.deliver()).remoteEdits, 1);
      assert.equal(hubspot(p, custId(2)).segment, "vip again");
      assert.deepEqual((await openConflicts(p)).map((c) => [c.key, c.field]), [[custId(2), "segment"]]);

      // The reads by id conform to HubSpot's published spec, like every other request (when ../shared is here).
      assert.ok(p.emulator.requests.some((r) => r.path.endsWith("/batch/read")));
      const contract = await loadHubSpotContract();
      if (contract) assert.deepEqual(validateExchanges(contract, p.emulator.requests), []);
    });

    it("remote_edits: destination_wins keeps the person's value, audits it, and lets the next change through", async (t) => {
      const p = await project(t, backend, "destination_wins");
      await editInHubSpot(p, custId(1), { phone: "+1 555 0101" });
      p.legacy("UPDATE CUSTOMERS SET PHONE = ?, EMAIL = ? WHERE CUST_ID = ?", "+49 30 9999001", "new1@erp.example", custId(1));
      assertStatus(await p.run("erp"));

      // The read goes through, then the update meets an outage: nothing of the decision is kept, and the
      // next pass decides again from the same baseline.
      p.emulator.faults.add({ type: "status", status: 503 }, { path: "/batch/update", times: 100 });
      const held = await p.deliver({ waitForRetriesMs: 0 });
      assert.deepEqual([held.updated, held.dead, held.pending], [0, 0, 1]);
      assert.deepEqual(await listAudit(p.store.knex, { key: custId(1) }), []);
      p.emulator.faults.clear();
      await p.store.knex("outbox").where({ status: "pending" }).update({ next_attempt_at: "2000-01-01T00:00:00.000Z" });

      const tally = await p.deliver();
      assert.equal(tally.remoteEdits, 1);
      assert.deepEqual([hubspot(p, custId(1)).phone, hubspot(p, custId(1)).email], ["+1 555 0101", "new1@erp.example"]);
      assert.deepEqual(await openConflicts(p), []);
      type AuditRow = { action: string; field: string; before: string; after: string };
      const audit = (await listAudit(p.store.knex, { key: custId(1) })) as AuditRow[];
      assert.deepEqual(
        audit.map((a) => [a.action, a.field, JSON.parse(a.before), JSON.parse(a.after)]),
        [["remote_edit.kept", "phone", "+49 30 9999001", "+1 555 0101"]],
      );

      // An update of another field leaves the person's phone the baseline.
      p.legacy("UPDATE CUSTOMERS SET EMAIL = ? WHERE CUST_ID = ?", "newer1@erp.example", custId(1));
      assertStatus(await p.run("erp"));
      assert.deepEqual([(await p.deliver()).remoteEdits, hubspot(p, custId(1)).email], [0, "newer1@erp.example"]);
      assert.equal(hubspot(p, custId(1)).phone, "+1 555 0101");

      // The ERP changes the phone again, later than the person's edit: it goes through.
      p.legacy("UPDATE CUSTOMERS SET PHONE = ? WHERE CUST_ID = ?", "+49 30 9999002", custId(1));
      assertStatus(await p.run("erp"));
      assert.equal((await p.deliver()).remoteEdits, 0);
      assert.equal(hubspot(p, custId(1)).phone, "+49 30 9999002");
    });
  });
}

describe("edits made in HubSpot, default settings", () => {
  it("overwrite (the default) sends Ferry's value without reading the record first", async (t) => {
    const p = await project(t, "sqlite");
    await editInHubSpot(p, custId(1), { phone: "+1 555 0101" });
    p.legacy("UPDATE CUSTOMERS SET PHONE = ? WHERE CUST_ID = ?", "+49 30 9999001", custId(1));
    assertStatus(await p.run("erp"));
    p.emulator.clearLog();
    await p.deliver();
    assert.equal(hubspot(p, custId(1)).phone, "+49 30 9999001");
    assert.equal(p.emulator.requests.filter((r) => r.path.endsWith("/batch/read")).length, 0, "no read before the update");
  });

  it("a destination that cannot be read stops delivery without blaming a record", async (t) => {
    const p = await project(t, "sqlite", "conflict");
    p.legacy("UPDATE CUSTOMERS SET PHONE = ? WHERE CUST_ID = ?", "+49 30 9999001", custId(1));
    assertStatus(await p.run("erp"));
    p.emulator.clearLog();
    p.emulator.faults.add({ type: "status", status: 503 }, { path: "/crm/v3/objects/contacts/batch/read", times: 100 });
    const down = await p.deliver({ waitForRetriesMs: 0 });
    assert.deepEqual([down.updated, down.dead, down.pending], [0, 0, 1]);
    assert.ok(down.held > 0);
    assert.equal(p.emulator.requests.filter((r) => r.path.endsWith("/batch/update")).length, 0, "no update without the read");
    p.emulator.faults.clear();
    await p.store.knex("outbox").where({ status: "pending" }).update({ next_attempt_at: "2000-01-01T00:00:00.000Z" });
    const back = await p.deliver();
    assert.deepEqual([back.updated, back.dead, back.pending], [1, 0, 0]);
    assert.equal(hubspot(p, custId(1)).phone, "+49 30 9999001");
  });
});

describe("edits made in Salesforce", () => {
  it("remote_edits: conflict reads the changed fields back by Id and leaves the person's value", async (t) => {
    const sf = await startSalesforceEmulator({
      objects: { Account: { externalIdFields: ["Ferry_Key__c"] } },
      clients: [{ clientId: "ferry-app", clientSecret: "sf-client-secret-0001" }],
    });
    t.after(() => sf.close());
    const m = customerMapping();
    const p = await createTestProject({
      backend: "sqlite",
      legacy: { CUSTOMERS: customerTable(ROWS) },
      mappings: {
        customer: {
          ...m,
          destinations: {
            salesforce: {
              object: "Account",
              match: { property: "Ferry_Key__c" },
              fields: { customer_no: "Ferry_Key__c", last_name: "Name", email: "Email__c", phone: "Phone" },
            },
          },
        },
      },
      jobs: { erp: erpSnapshotJob({ destinations: ["salesforce"] }) },
      destinations: {
        salesforce: {
          type: "salesforce",
          login_url: "${env:SF_URL}",
          oauth: { flow: "client_credentials", client_id: "ferry-app", client_secret: "${env:SF_SECRET}" },
          rate_limit: null,
          remote_edits: "conflict",
        },
      },
      env: { SF_URL: sf.url, SF_SECRET: "sf-client-secret-0001" },
    });
    t.after(() => p.cleanup());
    assertStatus(await p.run("erp"));
    assert.equal((await p.deliverAll()).get("salesforce")?.created, ROWS.length);

    const record = sf.findBy("Account", "Ferry_Key__c", custId(1))!;
    sf.update("Account", String(record.Id), { Phone: "+1 555 0101" });
    p.legacy("UPDATE CUSTOMERS SET PHONE = ?, EMAIL = ? WHERE CUST_ID = ?", "+49 30 9999001", "new1@erp.example", custId(1));
    assertStatus(await p.run("erp"));
    sf.clearLog();
    const tally = (await p.deliverAll()).get("salesforce")!;
    assert.deepEqual([tally.updated, tally.remoteEdits, tally.dead], [1, 1, 0]);
    const now = sf.findBy("Account", "Ferry_Key__c", custId(1))!;
    assert.deepEqual([now.Phone, now.Email__c], ["+1 555 0101", "new1@erp.example"]);
    const read = sf.requests.find((r) => r.method === "GET" && r.path.endsWith("/composite/sobjects/Account"));
    assert.ok(read, "the record was read back before the update");
    const conflicts = await listConflicts(p.store.knex, { status: "open" });
    assert.deepEqual(
      conflicts.map((c) => [c.key, c.field, c.candidates.map((x) => [x.source, x.value])]),
      [[custId(1), "phone", [["destination:salesforce", "+1 555 0101"]]]],
    );
  });
});
