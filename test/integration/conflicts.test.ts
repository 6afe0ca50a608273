/**
 * Two sources of one customer: the ERP (SQL) and the field team's CSV. `phone` is flagged: a disagreement
 * opens a conflict and HubSpot keeps the current value until an operator decides (or the sources agree).
 * `email` ranks the field team first; `first_name` is owned by the ERP.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { resolveConflict } from "../../src/operate/resolve.ts";
import { type ConflictRow, listConflicts } from "../../src/state/conflicts.repo.ts";
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
  backendSkip,
  createTestProject,
  stateRows,
  type TestProject,
} from "../support/project.ts";

const ERP = customers(10);
const erpPhone = (i: number) => String(customer(i).PHONE);

const FIELD_ROWS: FieldTeamRow[] = [
  { id: custId(1), phone: "+49 170 1000001" }, // conflict, resolved by taking the field team's value
  { id: custId(2), phone: "+49 170 1000002" }, // conflict, resolved by entering a value
  { id: custId(3), phone: "+49 170 1000003" }, // conflict that closes when the sources agree
  { id: custId(4), first: "Someone Else", email: "c4@field.example" }, // owner and priority
  { id: custId(5), phone: erpPhone(5) }, // agrees: no conflict
];

interface AuditRow {
  actor: string;
  action: string;
  entity: string;
  key: string;
  field: string;
  before: string;
  after: string;
}

for (const backend of BACKENDS) {
  describe(`conflicts between two sources (${backend} state)`, { skip: await backendSkip(backend) }, () => {
    let p: TestProject;
    const open = async () => listConflicts(p.store.knex, { status: "open" });
    const conflictOn = async (key: string): Promise<ConflictRow> => {
      const found = (await open()).find((c) => c.key === key);
      assert.ok(found, `an open conflict on ${key}`);
      return found;
    };
    const hubspot = () => byCustomerNo(p.emulator.records("contacts"));

    before(async () => {
      p = await createTestProject({
        backend,
        legacy: { CUSTOMERS: customerTable(ERP) },
        mappings: { customer: customerMapping({ fieldTeam: true }) },
        jobs: { erp: erpSnapshotJob(), "field-team": fieldTeamJob() },
        files: { "field-team.csv": fieldTeamCsv(FIELD_ROWS) },
      });
      const erp = await p.run("erp");
      assertStatus(erp);
      await p.deliver();
      assert.equal(hubspot().size, ERP.length);
    });
    after(() => p?.cleanup());

    it("opens a conflict on disagreement and keeps the field's value in HubSpot", async () => {
      const result = await p.run("field-team");
      assertStatus(result);
      assert.equal(result.counts.conflicts, 3);
      await p.deliver();

      const conflicts = await open();
      assert.deepEqual(
        conflicts.map((c) => [c.key, c.field]),
        [
          [custId(1), "phone"],
          [custId(2), "phone"],
          [custId(3), "phone"],
        ],
      );
      const first = conflicts[0]!;
      assert.deepEqual(first.current, { value: erpPhone(1), source: "erp" });
      assert.deepEqual(
        first.candidates.map((c) => [c.source, c.value]),
        [["field_team", "+49 170 1000001"]],
      );
      const now = hubspot();
      for (const i of [1, 2, 3, 5]) assert.equal(now.get(custId(i))!.properties.phone, erpPhone(i));
    });

    it("applies the priority and owner rules", () => {
      const c4 = hubspot().get(custId(4))!;
      assert.equal(c4.properties.email, "c4@field.example", "the field team ranks first for email");
      assert.equal(c4.properties.firstname, customer(4).FIRST_NM, "the ERP owns the first name");
      assert.equal(
        hubspot().get(custId(1))!.properties.email,
        customer(1).EMAIL,
        "an empty value hands email to the next source",
      );
    });

    it("resolves a conflict with a source's value: HubSpot updated, conflict closed, audit written", async () => {
      const conflict = await conflictOn(custId(1));
      const resolution = await resolveConflict(
        p.project,
        p.store,
        conflict.id,
        { use: "field_team" },
        "alice",
      );
      assert.equal(resolution.after, "+49 170 1000001");
      const tally = await p.deliver();
      assert.equal(tally.updated, 1);
      assert.equal(hubspot().get(custId(1))!.properties.phone, "+49 170 1000001");

      const [row] = await stateRows<{ status: string }>(p.store, "conflicts", { id: conflict.id });
      assert.equal(row!.status, "resolved");
      const audit = await stateRows<AuditRow>(p.store, "audit_log", { key: custId(1) });
      assert.equal(audit.length, 1);
      assert.deepEqual(
        {
          actor: audit[0]!.actor,
          action: audit[0]!.action,
          entity: audit[0]!.entity,
          field: audit[0]!.field,
          before: JSON.parse(audit[0]!.before),
          after: JSON.parse(audit[0]!.after),
        },
        {
          actor: "alice",
          action: "conflict.resolve",
          entity: "customer",
          field: "phone",
          before: erpPhone(1),
          after: "+49 170 1000001",
        },
      );
    });

    it("resolves a conflict with an entered value", async () => {
      const conflict = await conflictOn(custId(2));
      await resolveConflict(p.project, p.store, conflict.id, { value: "+49 30 9999999" }, "bob");
      await p.deliver();
      assert.equal(hubspot().get(custId(2))!.properties.phone, "+49 30 9999999");
      const [row] = await stateRows<{ status: string }>(p.store, "conflicts", { id: conflict.id });
      assert.equal(row!.status, "resolved");
      const audit = await stateRows<AuditRow>(p.store, "audit_log", { key: custId(2) });
      assert.equal(audit.length, 1);
      assert.equal(audit[0]!.actor, "bob");
      assert.equal(JSON.parse(audit[0]!.before), erpPhone(2));
      assert.equal(JSON.parse(audit[0]!.after), "+49 30 9999999");
    });

    it("closes a conflict by itself when the sources come to agree", async () => {
      const conflict = await conflictOn(custId(3));
      p.writeFile(
        "field-team.csv",
        fieldTeamCsv(FIELD_ROWS.map((r) => (r.id === custId(3) ? { ...r, phone: erpPhone(3) } : r))),
      );
      const result = await p.run("field-team");
      assertStatus(result);
      assert.equal(result.counts.changed, 1);
      const [row] = await stateRows<{ status: string; resolution: string }>(p.store, "conflicts", {
        id: conflict.id,
      });
      assert.equal(row!.status, "closed");
      assert.equal(JSON.parse(row!.resolution).by, "ferry");
      assert.deepEqual(await open(), []);
      await p.deliver();
      assert.equal(hubspot().get(custId(3))!.properties.phone, erpPhone(3));
    });

    it("does not reopen settled conflicts when both sources run again", async () => {
      const from = p.emulator.requests.length;
      for (const job of ["erp", "field-team"]) {
        const result = await p.run(job);
        assertStatus(result);
        assert.equal(result.counts.conflicts, 0);
        assert.equal(result.counts.changed, 0);
      }
      await p.deliver();
      assert.deepEqual(await open(), []);
      assert.equal(p.emulator.requests.length, from);
      assert.equal(hubspot().get(custId(1))!.properties.phone, "+49 170 1000001");
      assert.equal(hubspot().get(custId(2))!.properties.phone, "+49 30 9999999");
    });
  });
}
