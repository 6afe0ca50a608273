/**
 * A legacy table synced to HubSpot in snapshot mode, end to end: first load, a no-op rerun, a few updates,
 * deletes, and the mass-delete guard. Each scenario runs with the state on SQLite and on PostgreSQL.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { HubSpotObject } from "../../fixtures/hubspot-emulator/emulator.ts";
import type { RunRow } from "../../src/state/runs.repo.ts";
import {
  byCustomerNo,
  custId,
  customerMapping,
  customers,
  customerTable,
  erpSnapshotJob,
} from "../support/customers.ts";
import {
  assertStatus,
  BACKENDS,
  backendSkip,
  createTestProject,
  stateRows,
  type TestProject,
} from "../support/project.ts";

const ROWS = 40;
/** Customers without an email are filtered out by the job. */
const NO_EMAIL = new Set([custId(11), custId(33)]);
const SEGMENT: Record<string, string> = { R: "retail", W: "wholesale", G: "government" };

for (const backend of BACKENDS) {
  describe(`snapshot sync of a legacy table (${backend} state)`, { skip: await backendSkip(backend) }, () => {
    let p: TestProject;
    const rows = customers(ROWS).map((r) => (NO_EMAIL.has(String(r.CUST_ID)) ? { ...r, EMAIL: null } : r));
    const expectedCount = ROWS - NO_EMAIL.size;

    before(async () => {
      p = await createTestProject({
        backend,
        legacy: { CUSTOMERS: customerTable(rows) },
        mappings: { customer: customerMapping() },
        jobs: {
          erp: erpSnapshotJob({ batch_size: 15, filter: [{ field: "email", not_empty: true }] }),
        },
      });
    });
    after(() => p?.cleanup());

    it("creates every record in HubSpot on the first run", async () => {
      const result = await p.run("erp");
      assertStatus(result);
      assert.deepEqual(
        { read: result.counts.read, changed: result.counts.changed, filtered: result.counts.filtered },
        { read: ROWS, changed: expectedCount, filtered: NO_EMAIL.size },
      );
      const tally = await p.deliver();
      assert.equal(tally.created, expectedCount);
      assert.equal(tally.dead, 0);

      const inHubSpot = byCustomerNo(p.emulator.records("contacts"));
      assert.equal(inHubSpot.size, expectedCount);
      for (const row of rows) {
        const record = inHubSpot.get(String(row.CUST_ID));
        if (NO_EMAIL.has(String(row.CUST_ID))) {
          assert.equal(record, undefined, `${row.CUST_ID} has no email and is filtered`);
          continue;
        }
        assert.ok(record, `${row.CUST_ID} is in HubSpot`);
        assert.equal(record.properties.firstname, row.FIRST_NM);
        assert.equal(record.properties.lastname, row.LAST_NM);
        assert.equal(record.properties.email, row.EMAIL);
        assert.equal(record.properties.phone, row.PHONE);
        assert.equal(record.properties.segment, SEGMENT[String(row.SEGMENT_CD)]);
      }
    });

    it("changes nothing and sends no request on a second run", async () => {
      const before = p.emulator.requests.length;
      const result = await p.run("erp");
      assertStatus(result);
      assert.equal(result.counts.unchanged, expectedCount);
      assert.equal(result.counts.changed, 0);
      assert.equal(result.counts.outbox, 0);
      const tally = await p.deliver();
      assert.equal(tally.delivered, 0);
      assert.equal(p.emulator.requests.length, before, "no request reached HubSpot");
    });

    it("updates exactly the changed records, with only their changed properties", async () => {
      const untouched = new Map<string, HubSpotObject>(
        p.emulator.records("contacts").map((r) => [String(r.properties.customer_no), r]),
      );
      p.legacy("UPDATE CUSTOMERS SET EMAIL = 'new5@erp.example' WHERE CUST_ID = ?", custId(5));
      p.legacy("UPDATE CUSTOMERS SET PHONE = '+49 30 5550010' WHERE CUST_ID = ?", custId(10));
      p.legacy("UPDATE CUSTOMERS SET FIRST_NM = 'Renamed', SEGMENT_CD = 'W' WHERE CUST_ID = ?", custId(20));
      const result = await p.run("erp");
      assertStatus(result);
      assert.equal(result.counts.changed, 3);
      assert.equal(result.counts.unchanged, expectedCount - 3);

      const from = p.emulator.requests.length;
      const tally = await p.deliver();
      assert.equal(tally.updated, 3);
      assert.equal(tally.created, 0);
      const sent = p.emulator.requests.slice(from);
      assert.deepEqual(
        sent.map((r) => `${r.method} ${r.path}`),
        ["POST /crm/v3/objects/contacts/batch/update"],
      );
      const inputs = (sent[0]!.body as { inputs: { id: string; properties: Record<string, string> }[] })
        .inputs;
      const byId = new Map(inputs.map((i) => [i.id, i.properties]));
      const idOf = (no: string) => untouched.get(no)!.id;
      assert.equal(inputs.length, 3);
      assert.deepEqual(byId.get(idOf(custId(5))), { email: "new5@erp.example" });
      assert.deepEqual(byId.get(idOf(custId(10))), { phone: "+49 30 5550010" });
      assert.deepEqual(byId.get(idOf(custId(20))), { firstname: "Renamed", segment: "wholesale" });

      const now = byCustomerNo(p.emulator.records("contacts"));
      assert.equal(now.get(custId(5))!.properties.email, "new5@erp.example");
      assert.equal(now.get(custId(10))!.properties.phone, "+49 30 5550010");
      assert.equal(now.get(custId(20))!.properties.firstname, "Renamed");
      for (const [no, record] of untouched) {
        if ([custId(5), custId(10), custId(20)].includes(no)) continue;
        assert.deepEqual(now.get(no)!.properties, record.properties, `${no} is unchanged`);
      }
    });

    it("counts a row whose columns changed but map to the same values as unchanged, and re-digests it once", async () => {
      const snapshot = async () =>
        (await stateRows<{ hash: string; vals: string }>(p.store, "snapshots", { key: custId(3) }))[0]!;
      const before = await snapshot();
      // The mapping trims EMAIL: padding it changes the row, not the record.
      p.legacy("UPDATE CUSTOMERS SET EMAIL = '  ' || EMAIL || ' ' WHERE CUST_ID = ?", custId(3));
      const result = await p.run("erp");
      assertStatus(result);
      assert.deepEqual(
        { changed: result.counts.changed, unchanged: result.counts.unchanged, outbox: result.counts.outbox },
        { changed: 0, unchanged: expectedCount, outbox: 0 },
      );
      const after = await snapshot();
      assert.notEqual(after.hash, before.hash, "the snapshot holds the new row's digest");
      assert.equal(after.vals, before.vals, "and the same values");
      assertStatus(await p.run("erp"));
      assert.equal((await snapshot()).hash, after.hash);
    });

    it("applies a changed job filter to rows that did not change at the source", async () => {
      // Customer 20 moved to wholesale in an earlier step.
      const segment = (r: (typeof rows)[number]) => (String(r.CUST_ID) === custId(20) ? "W" : r.SEGMENT_CD);
      const government = rows.filter((r) => segment(r) === "G" && !NO_EMAIL.has(String(r.CUST_ID))).length;
      assert.ok(government > 0);
      const filter = [{ field: "email", not_empty: true }];
      p.writeFile("jobs/erp.yaml", erpSnapshotJob({ batch_size: 15, filter: [...filter, { field: "segment", not_in: ["government"] }] }));
      p.reload();
      const narrowed = await p.run("erp");
      assertStatus(narrowed);
      assert.deepEqual(
        { filtered: narrowed.counts.filtered, unchanged: narrowed.counts.unchanged, deleted: narrowed.counts.deleted },
        { filtered: NO_EMAIL.size + government, unchanged: expectedCount - government, deleted: 0 },
      );
      p.writeFile("jobs/erp.yaml", erpSnapshotJob({ batch_size: 15, filter }));
      p.reload();
      const restored = await p.run("erp");
      assertStatus(restored);
      assert.deepEqual(
        { unchanged: restored.counts.unchanged, changed: restored.counts.changed, outbox: restored.counts.outbox },
        { unchanged: expectedCount, changed: 0, outbox: 0 },
      );
    });

    it("accounts for every row read in every run", async () => {
      const runs = await stateRows<RunRow>(p.store, "runs");
      assert.ok(runs.length >= 3);
      for (const run of runs) {
        const n = (c: keyof RunRow) => Number(run[c]);
        assert.equal(run.status, "succeeded");
        assert.equal(n("read"), ROWS, `run #${run.id} read every row`);
        assert.equal(
          n("read"),
          n("unchanged") + n("changed") + n("rejected") + n("filtered"),
          `run #${run.id}: read = unchanged + changed + rejected + filtered`,
        );
      }
    });

    it("keeps a record whose row is rejected for a bad value: it is still at the source, not deleted", async () => {
      const original = rows.find((r) => String(r.CUST_ID) === custId(9))!.EMAIL as string;
      p.legacy("UPDATE CUSTOMERS SET EMAIL = 'not-an-email' WHERE CUST_ID = ?", custId(9));
      const bad = await p.run("erp");
      assertStatus(bad, "partial");
      assert.deepEqual(
        { rejected: bad.counts.rejected, deleted: bad.counts.deleted, outbox: bad.counts.outbox },
        { rejected: 1, deleted: 0, outbox: 0 },
      );
      await p.deliver();
      assert.equal(p.emulator.archived("contacts").length, 0);
      p.legacy("UPDATE CUSTOMERS SET EMAIL = ? WHERE CUST_ID = ?", original, custId(9));
      const fixed = await p.run("erp");
      assertStatus(fixed);
      assert.deepEqual(
        { unchanged: fixed.counts.unchanged, changed: fixed.counts.changed, outbox: fixed.counts.outbox },
        { unchanged: expectedCount, changed: 0, outbox: 0 },
      );
    });

    it("archives a record deleted at the source (policy propagate)", async () => {
      p.legacy("DELETE FROM CUSTOMERS WHERE CUST_ID = ?", custId(7));
      const result = await p.run("erp");
      assertStatus(result);
      assert.equal(result.counts.deleted, 1);
      const tally = await p.deliver();
      assert.equal(tally.deleted, 1);
      assert.deepEqual(
        p.emulator.archived("contacts").map((r) => r.properties.customer_no),
        [custId(7)],
      );
      assert.equal(p.emulator.records("contacts").length, expectedCount - 1);
    });

    it("refuses a run that would delete half the records, and lets it through when told to", async () => {
      const live = expectedCount - 1;
      const gone = Array.from({ length: ROWS }, (_, i) => custId(i + 1))
        .filter((id) => id !== custId(7) && !NO_EMAIL.has(id))
        .slice(0, Math.ceil(live / 2));
      for (const id of gone) p.legacy("DELETE FROM CUSTOMERS WHERE CUST_ID = ?", id);

      const refused = await p.run("erp");
      assertStatus(refused, "refused");
      assert.equal((refused.error as { code?: string } | undefined)?.code, "MASS_DELETE_REFUSED");
      assert.equal((await p.runRow(refused.runId)).status, "refused");
      await p.deliver();
      assert.equal(p.emulator.archived("contacts").length, 1, "nothing more was archived");
      assert.equal(p.emulator.records("contacts").length, live);
      const golden = await stateRows<{ key: string; status: string }>(p.store, "golden");
      assert.equal(golden.filter((g) => g.status === "deleted").length, 1);

      const allowed = await p.run("erp", { allowMassDelete: true });
      assertStatus(allowed);
      assert.equal(allowed.counts.deleted, gone.length);
      const tally = await p.deliver();
      assert.equal(tally.deleted, gone.length);
      assert.deepEqual(
        new Set(p.emulator.archived("contacts").map((r) => r.properties.customer_no)),
        new Set([custId(7), ...gone]),
      );
      assert.equal(p.emulator.records("contacts").length, live - gone.length);
    });
  });
}
