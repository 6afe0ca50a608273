/**
 * Cursor mode over a legacy `UPDATED_AT` text column with the key as tie-break: equal cursor values split
 * across a batch boundary are never skipped, the checkpoint is committed, a late row inside the lookback
 * window is picked up, and rows re-read in the overlap change nothing and send nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  byCustomerNo,
  custId,
  customer,
  customerMapping,
  customerTable,
  ERP_QUERY,
} from "../support/customers.ts";
import {
  assertStatus,
  BACKENDS,
  backendSkip,
  createTestProject,
  stateRows,
  type TestProject,
} from "../support/project.ts";

const at = (time: string) => `2024-03-01 ${time}`;

/** Ordered by (UPDATED_AT, CUST_ID) with batch_size 2: (1,2) (3,4) (5,6) (7). */
const ROWS = [
  customer(1, { UPDATED_AT: at("10:00:00") }),
  customer(2, { UPDATED_AT: at("11:00:00") }),
  customer(3, { UPDATED_AT: at("11:00:00") }), // same cursor as 2, next batch
  customer(4, { UPDATED_AT: at("11:00:00") }),
  customer(5, { UPDATED_AT: at("12:00:00") }),
  customer(6, { UPDATED_AT: at("13:00:00") }),
  customer(7, { UPDATED_AT: at("13:00:00") }), // same cursor as 6, next batch
];

interface CheckpointRow {
  job: string;
  position: string;
  run_id: number;
}

for (const backend of BACKENDS) {
  describe(`cursor mode on UPDATED_AT (${backend} state)`, { skip: await backendSkip(backend) }, () => {
    let p: TestProject;
    const checkpoint = async () => {
      const [row] = await stateRows<CheckpointRow>(p.store, "checkpoints", { job: "erp" });
      assert.ok(row, "a checkpoint is saved");
      return { ...(JSON.parse(row.position) as { cursor: string; key: string }), run: Number(row.run_id) };
    };

    before(async () => {
      p = await createTestProject({
        backend,
        legacy: { CUSTOMERS: customerTable(ROWS) },
        mappings: { customer: customerMapping() },
        jobs: {
          erp: {
            source: { type: "sql", connection: "legacy", query: ERP_QUERY },
            mapping: "customer",
            as: "erp",
            mode: "cursor",
            cursor: { column: "UPDATED_AT", lookback: "2h" },
            batch_size: 2,
          },
        },
      });
    });
    after(() => p?.cleanup());

    it("reads every row, including equal cursor values split across batches, and saves the checkpoint", async () => {
      const result = await p.run("erp");
      assertStatus(result);
      assert.equal(result.counts.read, ROWS.length);
      assert.equal(result.counts.changed, ROWS.length);
      assert.deepEqual(await checkpoint(), { cursor: at("13:00:00"), key: custId(7), run: result.runId });

      const tally = await p.deliver();
      assert.equal(tally.created, ROWS.length);
      assert.deepEqual(
        [...byCustomerNo(p.emulator.records("contacts")).keys()].sort(),
        ROWS.map((r) => r.CUST_ID),
      );
    });

    it("picks up a row committed late with a cursor inside the lookback window", async () => {
      p.insertLegacy("CUSTOMERS", [customer(8, { UPDATED_AT: at("12:30:00") })]);
      const result = await p.run("erp");
      assertStatus(result);
      // From 13:00 - 2h = 11:00: rows 2..7 are read again, and the new row 8.
      assert.equal(result.counts.read, 7);
      assert.equal(result.counts.unchanged, 6);
      assert.equal(result.counts.changed, 1);
      assert.equal(result.counts.outbox, 1);
      assert.deepEqual(await checkpoint(), { cursor: at("13:00:00"), key: custId(7), run: result.runId });

      const from = p.emulator.requests.length;
      const tally = await p.deliver();
      assert.equal(tally.created, 1);
      const creates = p.emulator.requests
        .slice(from)
        .filter((r) => r.path.endsWith("/batch/create"))
        .flatMap((r) => (r.body as { inputs: { properties: Record<string, string> }[] }).inputs);
      assert.deepEqual(
        creates.map((i) => i.properties.customer_no),
        [custId(8)],
      );
      assert.equal(byCustomerNo(p.emulator.records("contacts")).size, 8);
    });

    it("re-reads the overlap without a change or a request", async () => {
      const from = p.emulator.requests.length;
      const result = await p.run("erp");
      assertStatus(result);
      assert.ok(result.counts.read > 0, "the lookback window is read again");
      assert.equal(result.counts.unchanged, result.counts.read);
      assert.equal(result.counts.changed, 0);
      assert.equal(result.counts.outbox, 0);
      const tally = await p.deliver();
      assert.equal(tally.delivered, 0);
      assert.equal(p.emulator.requests.length, from, "no request reached HubSpot");
    });

    it("moves the checkpoint forward with a row updated later", async () => {
      p.legacy(
        "UPDATE CUSTOMERS SET PHONE = '+49 30 7777777', UPDATED_AT = ? WHERE CUST_ID = ?",
        at("14:00:00"),
        custId(1),
      );
      const result = await p.run("erp");
      assertStatus(result);
      assert.equal(result.counts.changed, 1);
      assert.deepEqual(await checkpoint(), { cursor: at("14:00:00"), key: custId(1), run: result.runId });
      await p.deliver();
      assert.equal(
        byCustomerNo(p.emulator.records("contacts")).get(custId(1))!.properties.phone,
        "+49 30 7777777",
      );

      const runs = await stateRows<Record<string, string | number>>(p.store, "runs");
      for (const run of runs) {
        const n = (c: string) => Number(run[c]);
        assert.equal(n("read"), n("unchanged") + n("changed") + n("rejected") + n("filtered"));
      }
    });
  });
}
