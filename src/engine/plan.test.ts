import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { DestinationMapping } from "../config/mapping.schema.ts";
import { plan, project } from "./plan.ts";
import type { GoldenField, GoldenRecord, RecordStatus, Value } from "./types.ts";

const field = (value: Value): GoldenField => ({
  value,
  source: "erp",
  run: "1",
  at: "2024-01-01T00:00:00.000Z",
  sourceTime: null,
  rule: "latest",
});

function record(values: Record<string, Value>, status: RecordStatus = "active", version = 1): GoldenRecord {
  return {
    entity: "customer",
    key: "C1",
    version,
    status,
    fields: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, field(v)])),
  };
}

const hubspot: DestinationMapping = {
  object: "contacts",
  match: { property: "customer_no" },
  fields: { customer_no: "customer_no", name: "company", email: "email" },
  archive_property: { property: "lifecyclestage", value: "archived" },
};
const sheet: DestinationMapping = {
  object: "rows",
  match: { property: "id" },
  fields: { customer_no: "id", phone: "phone" },
};
const destinations = { hubspot, sheet };

const base = { customer_no: "C1", name: "Ada", email: "ada@x.io", phone: "123", note: "n" };

describe("project", () => {
  test("names each field by the destination's property; missing fields are null", () => {
    assert.deepEqual(project(record({ customer_no: "C1", name: "Ada" }), hubspot), {
      customer_no: "C1",
      company: "Ada",
      email: null,
    });
  });
  test("an archived record carries the archive property", () => {
    assert.deepEqual(project(record(base, "archived"), hubspot), {
      customer_no: "C1",
      company: "Ada",
      email: "ada@x.io",
      lifecyclestage: "archived",
    });
    assert.deepEqual(project(record(base, "archived"), sheet), { id: "C1", phone: "123" });
  });
});

describe("plan", () => {
  test("a new record is an upsert to every destination with every property changed", () => {
    assert.deepEqual(plan(destinations, undefined, record(base)), [
      {
        destination: "hubspot",
        op: "upsert",
        properties: { customer_no: "C1", company: "Ada", email: "ada@x.io" },
        changed: ["customer_no", "company", "email"],
      },
      {
        destination: "sheet",
        op: "upsert",
        properties: { id: "C1", phone: "123" },
        changed: ["id", "phone"],
      },
    ]);
  });

  test("a new record whose mapped fields are all null is still created", () => {
    assert.deepEqual(plan({ sheet }, undefined, record({ customer_no: "C1" })), [
      { destination: "sheet", op: "upsert", properties: { id: "C1", phone: null }, changed: ["id", "phone"] },
    ]);
  });

  test("an update lists only the changed properties, to the destinations that map them", () => {
    assert.deepEqual(plan(destinations, record(base), record({ ...base, email: "ada@y.io" }, "active", 2)), [
      {
        destination: "hubspot",
        op: "upsert",
        properties: { customer_no: "C1", company: "Ada", email: "ada@y.io" },
        changed: ["email"],
      },
    ]);
    assert.deepEqual(plan(destinations, record(base), record({ ...base, phone: null, name: "A." })), [
      {
        destination: "hubspot",
        op: "upsert",
        properties: { customer_no: "C1", company: "A.", email: "ada@x.io" },
        changed: ["company"],
      },
      { destination: "sheet", op: "upsert", properties: { id: "C1", phone: null }, changed: ["phone"] },
    ]);
  });

  test("an update touching only an unmapped field, or nothing, plans nothing", () => {
    assert.deepEqual(plan(destinations, record(base), record({ ...base, note: "changed" }, "active", 2)), []);
    assert.deepEqual(plan(destinations, record(base), record(base)), []);
  });

  test("a value changing type counts as a change", () => {
    assert.deepEqual(plan({ sheet }, record({ ...base, phone: 123 }), record(base)), [
      { destination: "sheet", op: "upsert", properties: { id: "C1", phone: "123" }, changed: ["phone"] },
    ]);
  });

  test("a deleted record is a delete to every destination, if it existed", () => {
    assert.deepEqual(plan(destinations, record(base), record(base, "deleted", 2)), [
      {
        destination: "hubspot",
        op: "delete",
        properties: { customer_no: "C1", company: "Ada", email: "ada@x.io" },
        changed: [],
      },
      { destination: "sheet", op: "delete", properties: { id: "C1", phone: "123" }, changed: [] },
    ]);
    assert.equal(plan(destinations, record(base, "archived"), record(base, "deleted")).length, 2);
  });

  test("deleting a record that never existed or is already deleted plans nothing", () => {
    assert.deepEqual(plan(destinations, undefined, record(base, "deleted")), []);
    assert.deepEqual(plan(destinations, record(base, "deleted"), record(base, "deleted", 2)), []);
  });

  test("an archived record updates the archive property where one is configured", () => {
    assert.deepEqual(plan(destinations, record(base), record(base, "archived", 2)), [
      {
        destination: "hubspot",
        op: "upsert",
        properties: { customer_no: "C1", company: "Ada", email: "ada@x.io", lifecyclestage: "archived" },
        changed: ["lifecyclestage"],
      },
    ]);
  });

  test("a record back from the archive clears the archive property", () => {
    assert.deepEqual(plan({ hubspot }, record(base, "archived", 2), record(base, "active", 3)), [
      {
        destination: "hubspot",
        op: "upsert",
        properties: { customer_no: "C1", company: "Ada", email: "ada@x.io", lifecyclestage: null },
        changed: ["lifecyclestage"],
      },
    ]);
  });

  test("a record revived after a delete is created again in full", () => {
    assert.deepEqual(plan({ sheet }, record(base, "deleted"), record(base, "active", 3)), [
      {
        destination: "sheet",
        op: "upsert",
        properties: { id: "C1", phone: "123" },
        changed: ["id", "phone"],
      },
    ]);
  });

  test("no destinations, no intents", () => {
    assert.deepEqual(plan({}, undefined, record(base)), []);
  });
});
