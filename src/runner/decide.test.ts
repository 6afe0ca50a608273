import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { MappingConfig } from "../config/mapping.schema.ts";
import { compileMapping } from "../engine/map.ts";
import { mergeRules } from "../engine/merge.ts";
import type { GoldenField, RuleName, Value, Values } from "../engine/types.ts";
import type { Candidate } from "./classify.ts";
import { type DecideContext, decideChanges } from "./decide.ts";

const T0 = "2024-01-01T00:00:00.000Z";
const T1 = "2024-02-01T00:00:00.000Z";

const mapping: MappingConfig = {
  entity: "customer",
  key: "id",
  fields: {
    id: { type: "string", required: false },
    name: { type: "string", required: false, rule: { owner: "erp" } },
    phone: { type: "string", required: false, rule: "flag" },
    segment: { type: "string", required: false },
  },
  sources: { erp: { id: "ID", name: "NAME", phone: "PHONE", segment: "SEG" } },
  destinations: {
    crm: { object: "contacts", match: { property: "customer_no" }, fields: { id: "customer_no", name: "company", phone: "phone" } },
  },
};

const ctx: DecideContext = {
  compiled: compileMapping(mapping, "erp"),
  source: "erp",
  runId: 7,
  observedAt: T1,
  rules: mergeRules(mapping),
  destinations: mapping.destinations,
};

const candidate = (key: string, values: Values, stored: boolean): Candidate => ({
  key,
  values: { id: key, ...values },
  hash: `h-${key}`,
  stored,
  line: 1,
  sourceTime: null,
});

const field = (value: Value, source: string, rule: RuleName, at = T0, run = "1"): GoldenField => ({
  value,
  source,
  run,
  at,
  sourceTime: null,
  rule,
});

describe("decideChanges", () => {
  test("a new record: its snapshot row, a golden record at version 1, an upsert for each destination, a create", () => {
    const c = candidate("C1", { name: "Ada", phone: "123", segment: "A" }, false);
    const changes = decideChanges(ctx, [{ row: c, previous: undefined, fields: ["id", "name", "phone", "segment"] }], {
      golden: new Map(),
      others: new Map(),
      open: new Map(),
    });
    assert.deepEqual(changes, {
      snapshots: [{ key: "C1", hash: "h-C1", values: c.values, sourceTime: null }],
      golden: [
        {
          entity: "customer",
          key: "C1",
          version: 1,
          status: "active",
          fields: {
            id: field("C1", "erp", "key", T1, "7"),
            name: field("Ada", "erp", "owner", T1, "7"),
            phone: field("123", "erp", "flag", T1, "7"),
            segment: field("A", "erp", "latest", T1, "7"),
          },
        },
      ],
      conflicts: [],
      outbox: [
        {
          destination: "crm",
          op: "upsert",
          properties: { customer_no: "C1", company: "Ada", phone: "123" },
          changed: ["customer_no", "company", "phone"],
          entity: "customer",
          key: "C1",
          version: 1,
        },
      ],
      planned: [{ kind: "create", key: "C1", fields: ["id", "name", "phone", "segment"] }],
    });
  });

  test("a disagreement on a flag field opens a conflict and keeps the value; a change nobody receives sends nothing", () => {
    const golden = {
      entity: "customer",
      key: "C2",
      version: 3,
      status: "active" as const,
      fields: {
        id: field("C2", "erp", "key"),
        name: field("Bea", "erp", "owner"),
        phone: field("555", "crm", "flag"),
        segment: field("A", "erp", "latest"),
      },
    };
    const crm = { source: "crm", values: { id: "C2", phone: "555" }, sourceTime: null, observedAt: T0, run: "1" };
    const c = candidate("C2", { name: "Bea", phone: "556", segment: "B" }, true);
    const previous = { id: "C2", name: "Bea", phone: "555", segment: "A" };
    const changes = decideChanges(ctx, [{ row: c, previous, fields: ["phone", "segment"] }], {
      golden: new Map([["C2", golden]]),
      others: new Map([["C2", [crm]]]),
      open: new Map(),
    });
    assert.deepEqual(changes, {
      snapshots: [{ key: "C2", hash: "h-C2", values: c.values, sourceTime: null }],
      golden: [
        {
          ...golden,
          version: 4,
          fields: {
            ...golden.fields,
            phone: { ...field("555", "crm", "flag"), conflicted: true },
            segment: field("B", "erp", "latest", T1, "7"),
          },
        },
      ],
      conflicts: [
        {
          key: "C2",
          changes: [
            {
              type: "open",
              field: "phone",
              current: { value: "555", source: "crm" },
              candidates: [{ source: "erp", value: "556", sourceTime: null, observedAt: T1 }],
            },
          ],
        },
      ],
      outbox: [],
      planned: [
        { kind: "conflict", key: "C2", field: "phone" },
        { kind: "update", key: "C2", fields: ["segment"] },
      ],
    });
  });

  test("no changed rows: nothing to write", () => {
    assert.deepEqual(decideChanges(ctx, [], { golden: new Map(), others: new Map(), open: new Map() }), {
      snapshots: [],
      golden: [],
      conflicts: [],
      outbox: [],
      planned: [],
    });
  });
});
