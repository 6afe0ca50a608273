/**
 * The `flag` delete policy: a record the source no longer returns opens a `_deleted` conflict instead of
 * being deleted; the operator keeps it (`--value false`) or deletes it (`--value true`), audited.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { resolveConflict } from "../../src/operate/resolve.ts";
import { DELETED_FIELD } from "../../src/runner/deletes.ts";
import { listConflicts } from "../../src/state/conflicts.repo.ts";
import { getGolden } from "../../src/state/golden.repo.ts";
import {
  byCustomerNo,
  custId,
  customerMapping,
  customers,
  customerTable,
  erpSnapshotJob,
  fieldTeamCsv,
  fieldTeamJob,
} from "../support/customers.ts";
import { assertStatus, BACKENDS, backendSkip, createTestProject, stateRows, type TestProject } from "../support/project.ts";

for (const backend of BACKENDS) {
  describe(`delete policy flag (${backend} state)`, { skip: await backendSkip(backend) }, () => {
    let p: TestProject;
    before(async () => {
      p = await createTestProject({
        backend,
        legacy: { CUSTOMERS: customerTable(customers(20)) },
        mappings: { customer: customerMapping() },
        jobs: { erp: erpSnapshotJob({ deletes: { policy: "flag", max_share: 0.5 } }) },
      });
      assertStatus(await p.run("erp"));
      await p.deliver();
    });
    after(() => p?.cleanup());

    it("flags records the source lost, deletes nothing, and does not ask twice", async () => {
      p.legacy("DELETE FROM CUSTOMERS WHERE CUST_ID IN (?, ?)", custId(3), custId(4));
      const first = await p.run("erp");
      assertStatus(first);
      assert.equal(first.counts.conflicts, 2);
      assert.equal(first.counts.deleted, 0);
      assert.equal((await p.deliver()).deleted, 0);
      assert.equal(p.emulator.records("contacts").length, 20);

      const again = await p.run("erp");
      assert.equal(again.counts.conflicts, 0, "an open delete conflict is not opened again");
      const open = (await listConflicts(p.store.knex, { status: "open" })).filter((c) => c.field === DELETED_FIELD);
      assert.deepEqual(open.map((c) => c.key).sort(), [custId(3), custId(4)]);
    });

    it("--use is refused for a delete conflict; --value true deletes, --value false keeps", async () => {
      const open = (await listConflicts(p.store.knex, { status: "open" })).filter((c) => c.field === DELETED_FIELD);
      const byKey = new Map(open.map((c) => [c.key, c.id]));
      await assert.rejects(resolveConflict(p.project, p.store, byKey.get(custId(3))!, { use: "erp" }, "alice"), {
        code: "CONFLICT_RESOLUTION_INVALID",
      });

      await resolveConflict(p.project, p.store, byKey.get(custId(3))!, { value: "true" }, "alice");
      await resolveConflict(p.project, p.store, byKey.get(custId(4))!, { value: "false" }, "bob");
      const tally = await p.deliver();
      assert.equal(tally.deleted, 1);
      const inHubSpot = byCustomerNo(p.emulator.records("contacts"));
      assert.equal(inHubSpot.has(custId(3)), false, "deleted on the operator's word");
      assert.equal(inHubSpot.has(custId(4)), true, "kept on the operator's word");

      const audit = await stateRows<{ actor: string; key: string; field: string; after: string }>(p.store, "audit_log");
      assert.deepEqual(
        audit.map((a) => [a.actor, a.key, a.field, a.after]).sort(),
        [
          ["alice", custId(3), DELETED_FIELD, "true"],
          ["bob", custId(4), DELETED_FIELD, "false"],
        ],
      );
      // The decision stands: the next run neither flags nor deletes again.
      const next = await p.run("erp");
      assert.equal(next.counts.conflicts, 0);
      assert.equal(next.counts.deleted, 0);
    });
  });
}

for (const backend of BACKENDS) {
  describe(`delete policy flag, another source still holding the record (${backend} state)`, { skip: await backendSkip(backend) }, () => {
    let p: TestProject;
    before(async () => {
      p = await createTestProject({
        backend,
        legacy: { CUSTOMERS: customerTable(customers(5)) },
        mappings: { customer: customerMapping({ fieldTeam: true }) },
        jobs: { erp: erpSnapshotJob({ deletes: { policy: "flag", max_share: 0.5 } }), field: fieldTeamJob() },
      });
      p.writeFile("field-team.csv", fieldTeamCsv([{ id: custId(3), first: "Field", email: "c3@field.example" }]));
      assertStatus(await p.run("erp"));
      assertStatus(await p.run("field"));
      await p.deliver();
    });
    after(() => p?.cleanup());

    it("--value true lets the source go: the record stays, decided from the source that still holds it", async () => {
      p.legacy("DELETE FROM CUSTOMERS WHERE CUST_ID = ?", custId(3));
      assertStatus(await p.run("erp"));
      const [conflict] = (await listConflicts(p.store.knex, { status: "open" })).filter((c) => c.field === DELETED_FIELD);
      await resolveConflict(p.project, p.store, conflict!.id, { value: "true" }, "alice");

      const record = await getGolden(p.store.knex, "customer", custId(3));
      assert.equal(record?.status, "active", "the field team still holds it");
      assert.equal(record?.fields.first_name, undefined, "the erp's own field went with it");
      assert.equal(record?.fields.email?.value, "c3@field.example");
      const tally = await p.deliver();
      assert.equal(tally.deleted, 0);
      const contact = byCustomerNo(p.emulator.records("contacts")).get(custId(3));
      assert.ok(contact, "still in HubSpot");
      assert.ok(!contact.properties.firstname, "HubSpot's firstname is cleared (HubSpot writes an empty value as \"\")");
    });
  });
}
