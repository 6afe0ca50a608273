/**
 * What keeps bad input and rehearsals from doing harm: a dry run writes nothing, bad rows are rejected one
 * by one with their line, an unparsable file applies nothing, broken keys are rejected, and a mapping that
 * names a missing column stops the run before anything is written.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { ConfigError } from "../../src/errors.ts";
import type { PlannedEvent } from "../../src/runner/batch-context.ts";
import type { RejectRow } from "../../src/state/run-rejects.repo.ts";
import {
  byCustomerNo,
  custId,
  customer,
  customerMapping,
  customers,
  customerTable,
  erpSnapshotJob,
  type FieldTeamRow,
  fieldTeamCsv,
  fieldTeamJob,
} from "../support/customers.ts";
import {
  assertStatus,
  BACKENDS,
  type Backend,
  backendSkip,
  createTestProject,
  STATE_TABLES,
  stateRows,
  type TestProject,
  type TestProjectOptions,
} from "../support/project.ts";

async function project(t: TestContext, options: TestProjectOptions): Promise<TestProject> {
  const p = await createTestProject(options);
  t.after(() => p.cleanup());
  return p;
}

const fieldTeamRows = (count: number): FieldTeamRow[] =>
  Array.from({ length: count }, (_, n) => ({
    id: custId(n + 1),
    first: `Field${n + 1}`,
    email: `c${n + 1}@field.example`,
  }));

/** Two sources mapped; only the one under test runs. */
const csvProject = (backend: Backend, csv: string, batchSize = 50): TestProjectOptions => ({
  backend,
  mappings: { customer: customerMapping({ fieldTeam: true }) },
  jobs: { "field-team": fieldTeamJob("field-team.csv", { batch_size: batchSize }) },
  files: { "field-team.csv": csv },
});

const rejectsOf = (p: TestProject, runId: number | null) =>
  stateRows<RejectRow & { run_id: number }>(p.store, "run_rejects", { run_id: runId });

for (const backend of BACKENDS) {
  describe(`safety (${backend} state)`, { skip: await backendSkip(backend) }, () => {
    it("a dry run writes nothing and sends nothing, yet reports what it would do", async (t) => {
      const p = await project(t, {
        backend,
        legacy: { CUSTOMERS: customerTable(customers(20)) },
        mappings: { customer: customerMapping() },
        jobs: { erp: erpSnapshotJob({ batch_size: 7 }) },
      });
      const plan = async () => {
        const events: PlannedEvent[] = [];
        const before = await p.tableCounts();
        const requests = p.emulator.requests.length;
        const result = await p.run("erp", { dryRun: true, onPlanned: (e) => events.push(e) });
        assertStatus(result);
        assert.equal(result.runId, null);
        assert.deepEqual(await p.tableCounts(), before, "every state table keeps its row count");
        await p.deliver();
        assert.equal(p.emulator.requests.length, requests, "no request reached HubSpot");
        return { result, events };
      };

      const first = await plan();
      assert.equal(first.events.length, 20);
      assert.ok(first.events.every((e) => e.kind === "create"));
      assert.ok(Object.values(await p.tableCounts()).every((n) => n === 0));

      const real = await p.run("erp");
      assertStatus(real);
      assert.equal(real.counts.changed, first.result.counts.changed, "the real run does what the plan said");
      await p.deliver();
      assert.equal(p.emulator.records("contacts").length, 20);

      p.legacy("UPDATE CUSTOMERS SET PHONE = '+49 30 1234567' WHERE CUST_ID = ?", custId(3));
      p.legacy("UPDATE CUSTOMERS SET FIRST_NM = 'Zed' WHERE CUST_ID = ?", custId(9));
      p.legacy("DELETE FROM CUSTOMERS WHERE CUST_ID = ?", custId(12));
      p.insertLegacy("CUSTOMERS", [customer(21)]);
      const second = await plan();
      const summary = second.events
        .map((e) =>
          e.kind === "create" || e.kind === "update"
            ? `${e.kind} ${e.key} ${e.fields.join(",")}`
            : e.kind === "delete"
              ? `delete ${e.key}`
              : e.kind,
        )
        .sort();
      assert.deepEqual(summary, [
        "create C0021 customer_no,first_name,last_name,email,phone,segment",
        "delete C0012",
        "update C0003 phone",
        "update C0009 first_name",
      ]);
      assert.equal(byCustomerNo(p.emulator.records("contacts")).get(custId(12))?.archived, false);
    });

    it("rejects a ragged row and an invalid email with their lines, and applies the rest", async (t) => {
      const rows: (FieldTeamRow | string)[] = fieldTeamRows(10);
      rows.splice(3, 0, "C0098,Ragged"); // line 5
      rows.splice(6, 0, { id: "C0099", first: "Bad", email: "not-an-email" }); // line 8
      const p = await project(t, csvProject(backend, fieldTeamCsv(rows)));
      const result = await p.run("field-team");
      assertStatus(result, "partial");
      assert.deepEqual(
        { read: result.counts.read, changed: result.counts.changed, rejected: result.counts.rejected },
        { read: 12, changed: 10, rejected: 2 },
      );
      const rejects = await rejectsOf(p, result.runId);
      assert.deepEqual(
        rejects.map((r) => ({ line: Number(r.line), key: r.key, code: r.code })),
        [
          { line: 5, key: null, code: "DATA_CSV_FIELD_COUNT" },
          { line: 8, key: "C0099", code: "DATA_BAD_VALUE" },
        ],
      );
      assert.match(rejects[1]!.reason, /not-an-email/);

      const tally = await p.deliver();
      assert.equal(tally.created, 10);
      assert.deepEqual(
        [...byCustomerNo(p.emulator.records("contacts")).keys()].sort(),
        fieldTeamRows(10).map((r) => r.id),
      );
    });

    it("applies nothing of a file with an unclosed quote deep inside it", async (t) => {
      // Over 64 KiB, so the parser meets the broken line only after the first batches went through the
      // engine: they are rolled back with the rest.
      const good = fieldTeamRows(1000).map((r) => ({ ...r, first: `${r.first} ${"x".repeat(50)}` }));
      const rows: (FieldTeamRow | string)[] = [...good];
      rows.splice(900, 0, "C0500,Broken,\"c500@field.example,"); // line 902: the quote never closes
      const p = await project(t, csvProject(backend, fieldTeamCsv(rows), 100));
      const result = await p.run("field-team");
      assertStatus(result, "failed");
      assert.equal((result.error as { code?: string }).code, "SOURCE_CSV_UNPARSABLE");
      assert.ok(
        result.counts.read >= 500,
        `batches before the broken line went through (${result.counts.read})`,
      );
      const counts = await p.tableCounts();
      for (const table of STATE_TABLES) {
        if (table !== "runs") assert.equal(counts[table], 0, `nothing written to ${table}`);
      }
      assert.equal((await p.runRow(result.runId)).status, "failed");
      await p.deliver();
      assert.equal(p.emulator.requests.length, 0);

      p.writeFile("field-team.csv", fieldTeamCsv(good));
      const fixed = await p.run("field-team");
      assertStatus(fixed);
      assert.equal((await p.tableCounts()).golden, good.length, "the fixed file applies whole");
    });

    it("rejects a legacy row without a key and a duplicate key in one batch", async (t) => {
      const rows = [
        ...customers(10),
        customer(50, { CUST_ID: null, EMAIL: "nokey@erp.example" }),
        customer(5, { EMAIL: "duplicate5@erp.example" }),
      ];
      const p = await project(t, {
        backend,
        legacy: { CUSTOMERS: customerTable(rows, null) },
        mappings: { customer: customerMapping() },
        jobs: { erp: erpSnapshotJob() },
      });
      const result = await p.run("erp");
      assertStatus(result, "partial");
      assert.deepEqual(
        { read: result.counts.read, changed: result.counts.changed, rejected: result.counts.rejected },
        { read: 12, changed: 10, rejected: 2 },
      );
      const rejects = await rejectsOf(p, result.runId);
      assert.deepEqual(
        rejects.map((r) => [r.key, r.code]).sort(),
        [
          [null, "DATA_KEY_MISSING"],
          ["C0005", "DATA_DUPLICATE_KEY"],
        ].sort(),
      );
      for (const r of rejects) assert.ok(Number(r.line) >= 1, "each reject has its row number");

      await p.deliver();
      const inHubSpot = byCustomerNo(p.emulator.records("contacts"));
      assert.equal(inHubSpot.size, 10);
      assert.ok(inHubSpot.has(custId(5)));
    });

    it("reads on past more rows without a key than a batch holds", async (t) => {
      const rows = [
        ...customers(6),
        ...[90, 91, 92].map((i) => customer(i, { CUST_ID: null, EMAIL: `nokey${i}@erp.example` })),
      ];
      const p = await project(t, {
        backend,
        legacy: { CUSTOMERS: customerTable(rows, null) },
        mappings: { customer: customerMapping() },
        jobs: { erp: erpSnapshotJob({ batch_size: 2 }) },
      });
      const result = await p.run("erp");
      assertStatus(result, "partial");
      assert.deepEqual(
        { read: result.counts.read, changed: result.counts.changed, rejected: result.counts.rejected },
        { read: 9, changed: 6, rejected: 3 },
      );
      assert.ok(result.rejects.every((r) => r.code === "DATA_KEY_MISSING"));
      await p.deliver();
      assert.equal(byCustomerNo(p.emulator.records("contacts")).size, 6);
    });

    for (const kind of ["sql", "csv"] as const) {
      it(`stops before writing anything when the mapping names a column the ${kind} source lacks`, async (t) => {
        const options: TestProjectOptions =
          kind === "sql"
            ? {
                backend,
                legacy: { CUSTOMERS: customerTable(customers(10)) },
                mappings: { customer: customerMapping({ erpColumns: { phone: "PHONE_NO" } }) },
                jobs: { erp: erpSnapshotJob() },
              }
            : csvProject(
                backend,
                `Customer #,First name,E-mail\r\n${fieldTeamRows(10)
                  .map((r) => `${r.id},${r.first},${r.email}`)
                  .join("\r\n")}\r\n`,
              );
        const p = await project(t, options);
        const result = await p.run(kind === "sql" ? "erp" : "field-team");
        assertStatus(result, "failed");
        assert.ok(result.error instanceof ConfigError, `a ConfigError, got ${result.error}`);
        assert.equal(result.error.code, "CONFIG_MISSING_COLUMN");
        assert.match(result.error.message, kind === "sql" ? /PHONE_NO/ : /"Phone"/);
        const counts = await p.tableCounts();
        assert.deepEqual(
          { snapshots: counts.snapshots, golden: counts.golden, outbox: counts.outbox },
          { snapshots: 0, golden: 0, outbox: 0 },
        );
        const run = await p.runRow(result.runId);
        assert.equal(run.status, "failed");
        assert.match(String(run.error), /CONFIG_MISSING_COLUMN/);
      });
    }
  });
}
