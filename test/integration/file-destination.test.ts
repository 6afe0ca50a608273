/** The file destination end to end: a legacy table through a run into CSV files a legacy system picks up. */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { custId, customerMapping, customers, customerTable, erpSnapshotJob } from "../support/customers.ts";
import { assertStatus, createTestProject } from "../support/project.ts";

describe("delivery to a folder of CSV files", () => {
  it("writes each run's changes as one CSV file, formulas escaped, and a delete as a row", async (t) => {
    const rows = customers(5).map((r, i) => (i === 2 ? { ...r, LAST_NM: "=HYPERLINK(\"http://x\")" } : r));
    const m = customerMapping();
    const p = await createTestProject({
      backend: "sqlite",
      legacy: { CUSTOMERS: customerTable(rows) },
      mappings: {
        customer: {
          ...m,
          destinations: {
            erp_export: {
              object: "customers",
              match: { property: "customer_no" },
              fields: { customer_no: "customer_no", last_name: "last_name", email: "email" },
            },
          },
        },
      },
      jobs: { erp: erpSnapshotJob({ destinations: ["erp_export"] }) },
      destinations: { erp_export: { type: "file", target: { folder: "exports" } } },
    });
    t.after(() => p.cleanup());
    assertStatus(await p.run("erp"));
    const first = (await p.deliverAll()).get("erp_export")!;
    assert.deepEqual({ created: first.created, dead: first.dead, pending: first.pending }, { created: 5, dead: 0, pending: 0 });
    const folder = path.join(p.dir, "exports");
    const [file, ...others] = readdirSync(folder);
    assert.equal(others.length, 0, "one file, no temporary left behind");
    assert.match(file!, /^customer-0+1-0+5\.csv$/);
    const lines = readFileSync(path.join(folder, file!), "utf8").trim().split(/\r?\n/);
    assert.equal(lines[0], "_op,_key,_idempotency_key,customer_no,last_name,email");
    assert.equal(lines.length, 6);
    assert.ok(lines[3]!.includes(`"'=HYPERLINK(""http://x"")"`), `formula escaped: ${lines[3]}`);

    p.legacy("DELETE FROM CUSTOMERS WHERE CUST_ID = ?", custId(1));
    assertStatus(await p.run("erp"));
    const second = (await p.deliverAll()).get("erp_export")!;
    assert.equal(second.deleted, 1);
    const next = readdirSync(folder).filter((f) => f !== file);
    assert.equal(next.length, 1);
    const deleteRow = readFileSync(path.join(folder, next[0]!), "utf8").trim().split(/\r?\n/)[1]!;
    assert.match(deleteRow, new RegExp(`^delete,${custId(1)},[0-9a-f]+,${custId(1)},,$`));
  });
});
