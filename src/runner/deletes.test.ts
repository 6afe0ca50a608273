import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { GoldenRecord } from "../engine/types.ts";
import { FatalError } from "../errors.ts";
import { DELETED_FIELD, type DeleteContext, flagDeletes, guardMassDelete, withdrawDeletes } from "./deletes.ts";

const AT = "2024-03-01T00:00:00.000Z";

const ctx = (policy: DeleteContext["policy"], allowMassDelete = false): DeleteContext => ({
  entity: "customer",
  source: "erp",
  runId: 4,
  at: AT,
  policy,
  maxShare: 0.1,
  allowMassDelete,
  destinations: {
    crm: {
      object: "contacts",
      match: { property: "customer_no" },
      fields: { id: "customer_no", name: "company" },
      archive_property: { property: "stage", value: "archived" },
    },
  },
  rules: { key: "id", rules: { id: { kind: "latest" }, name: { kind: "owner", owner: "erp" } } },
});

const record = (key: string, name: string): GoldenRecord => ({
  entity: "customer",
  key,
  version: 2,
  status: "active",
  fields: {
    id: { value: key, source: "erp", run: "1", at: AT, sourceTime: null, rule: "key" },
    name: { value: name, source: "erp", run: "1", at: AT, sourceTime: null, rule: "owner" },
  },
});

describe("guardMassDelete", () => {
  test("lets through up to the job's share of the snapshot", () => {
    guardMassDelete(ctx("propagate"), 10, 100);
  });

  test("refuses more, unless told to allow it", () => {
    assert.throws(
      () => guardMassDelete(ctx("propagate"), 11, 100),
      (e: unknown) =>
        e instanceof FatalError &&
        e.code === "MASS_DELETE_REFUSED" &&
        e.message.startsWith("this run would delete 11 of 100 records from erp (11.0%), more than the job's limit of 10%."),
    );
    guardMassDelete(ctx("propagate", true), 11, 100);
  });
});

describe("flagDeletes", () => {
  test("opens a conflict on each record's _deleted pseudo-field, but not a second one", () => {
    const open = new Map([
      ["C2", [{ id: 9, field: DELETED_FIELD, candidates: [] }]],
      ["C3", [{ id: 10, field: "phone", candidates: [] }]],
    ]);
    const candidates = [{ source: "erp", value: true, sourceTime: null, observedAt: AT }];
    const opened = { type: "open", field: DELETED_FIELD, current: { value: false, source: "erp" }, candidates };
    assert.deepEqual(flagDeletes(ctx("flag"), ["C1", "C2", "C3"], open), {
      removed: [],
      golden: [],
      conflicts: [
        { key: "C1", changes: [opened] },
        { key: "C3", changes: [opened] },
      ],
      outbox: [],
      planned: [
        { kind: "delete", key: "C1" },
        { kind: "delete", key: "C3" },
      ],
    });
  });
});

describe("withdrawDeletes", () => {
  const golden = new Map([
    ["C1", record("C1", "Ada")],
    ["C2", record("C2", "Bea")],
  ]);
  const others = new Map([["C2", [{ source: "web", values: { id: "C2" }, sourceTime: null, observedAt: AT, run: "3" }]]]);

  const state = { golden, others, open: new Map() };
  const { name: _, ...keyOnly } = record("C2", "Bea").fields;

  test("propagate: the snapshot rows go; a record no other source holds is deleted at its destinations", () => {
    assert.deepEqual(withdrawDeletes(ctx("propagate"), ["C1", "C2", "C3"], state), {
      removed: ["C1", "C2", "C3"],
      golden: [
        { ...record("C1", "Ada"), status: "deleted", version: 3 },
        // Another source holds C2: it stays, decided again without erp, whose field (its own) empties.
        { ...record("C2", "Bea"), version: 3, fields: keyOnly },
      ],
      conflicts: [],
      outbox: [
        {
          destination: "crm",
          op: "delete",
          properties: { customer_no: "C1", company: "Ada" },
          changed: [],
          entity: "customer",
          key: "C1",
          version: 3,
        },
        {
          destination: "crm",
          op: "upsert",
          properties: { customer_no: "C2", company: null },
          changed: ["company"],
          entity: "customer",
          key: "C2",
          version: 3,
        },
      ],
      planned: [
        { kind: "delete", key: "C1" },
        { kind: "delete", key: "C2" },
        { kind: "delete", key: "C3" },
      ],
    });
  });

  test("archive: the record stays at its destinations, marked archived", () => {
    const changes = withdrawDeletes(ctx("archive"), ["C1"], state);
    assert.deepEqual(changes.golden, [{ ...record("C1", "Ada"), status: "archived", version: 3 }]);
    assert.deepEqual(changes.outbox, [
      {
        destination: "crm",
        op: "upsert",
        properties: { customer_no: "C1", company: "Ada", stage: "archived" },
        changed: ["stage"],
        entity: "customer",
        key: "C1",
        version: 3,
      },
    ]);
  });
});
