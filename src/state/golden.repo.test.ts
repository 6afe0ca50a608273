import assert from "node:assert/strict";
import { test } from "node:test";
import type { GoldenField } from "../engine/types.ts";
import { decodeFields, encodeFields } from "./golden.repo.ts";

const erp = { source: "erp", run: "3", at: "2025-01-02T03:04:05.000Z", sourceTime: null };
const crm = { source: "crm", run: "4", at: "2025-01-03T00:00:00.000Z", sourceTime: "2025-01-02T23:00:00.000Z" };

test("fields round-trip through the stored form, provenance, rules and open conflicts included", () => {
  const fields: Record<string, GoldenField> = {
    id: { ...erp, value: 7, rule: "key" },
    name: { ...erp, value: "Ada \"the\" Countess\u0000", rule: "owner" },
    email: { ...crm, value: "ada@example.com", rule: "priority" },
    phone: { ...crm, value: null, rule: "flag", conflicted: true },
    vip: { ...erp, value: false, rule: "latest" },
    price: { ...erp, value: "12.50", rule: "operator", sourceTime: "2025-01-01T00:00:00.000Z" },
  };
  assert.deepEqual(decodeFields(encodeFields(fields)), fields);
  assert.deepEqual(decodeFields(encodeFields({})), {});
});

test("a provenance shared by several fields is stored once", () => {
  const fields: Record<string, GoldenField> = {};
  for (let i = 0; i < 10; i++) fields[`f${i}`] = { ...erp, value: i, rule: "owner" };
  fields.other = { ...crm, value: "x", rule: "latest" };
  const stored = JSON.parse(encodeFields(fields)) as { p: unknown[] };
  assert.equal(stored.p.length, 2);
});
