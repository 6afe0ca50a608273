import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { changedFields, diffRows, hashRow } from "./diff.ts";
import type { Value, Values } from "./types.ts";

describe("hashRow", () => {
  test("is stable across runs and versions (a change would re-compare every stored record)", () => {
    assert.equal(
      hashRow({ id: "C1", name: "Ada", n: 1, ok: true, x: null }, ["id", "name", "n", "ok", "x"], "sig"),
      "HpyxP5zAHuw/YAbcvVTEvCwEel4=",
    );
    assert.equal(hashRow({}, [], "sig"), "jRuNhyiFL4rsmeront0JfmTf08s=");
  });

  test("keeps types apart: 1, '1', true, null and '' differ", () => {
    const values: Value[] = [1, "1", true, "true", null, "null", "", 0, false];
    const hashes = values.map((v) => hashRow({ f: v }, ["f"], "sig"));
    assert.equal(new Set(hashes).size, values.length);
  });

  test("a missing field hashes like null", () => {
    assert.equal(hashRow({}, ["a"], "sig"), hashRow({ a: null }, ["a"], "sig"));
    assert.equal(hashRow({}, ["a"], "sig"), "vquX+k5k3blDNT3pZj0oqUMSI0E=");
  });

  test("only the listed fields count, in the listed order", () => {
    const v = { a: "x", b: "y", extra: 42 };
    assert.equal(hashRow(v, ["a", "b"], "sig"), hashRow({ a: "x", b: "y" }, ["a", "b"], "sig"));
    assert.notEqual(hashRow(v, ["a", "b"], "sig"), hashRow(v, ["b", "a"], "sig"));
    // Adding a field to the mapping changes the hash even while that field is empty.
    assert.notEqual(hashRow(v, ["a", "b"], "sig"), hashRow(v, ["a", "b", "c"], "sig"));
  });

  test("value boundaries cannot be shifted between fields", () => {
    assert.notEqual(
      hashRow({ a: "x\u001f", b: "y" }, ["a", "b"], "sig"),
      hashRow({ a: "x", b: "\u001fy" }, ["a", "b"], "sig"),
    );
    assert.notEqual(hashRow({ a: "x,", b: "y" }, ["a", "b"], "sig"), hashRow({ a: "x", b: ",y" }, ["a", "b"], "sig"));
  });

  test("does not depend on the object's key order", () => {
    assert.equal(hashRow({ a: 1, b: 2 }, ["a", "b"], "sig"), hashRow({ b: 2, a: 1 }, ["a", "b"], "sig"));
  });

  test("another signature (mapping or filter) gives another digest for the same row", () => {
    assert.notEqual(hashRow({ a: "x" }, ["a"], "sig"), hashRow({ a: "x" }, ["a"], "sig2"));
  });

  test("raw driver values JSON cannot write keep texts of their own: bigints, NaN, Infinity, dates", () => {
    const values: unknown[] = [null, 5, "5", 5n, Number.NaN, "NaN", Infinity, -Infinity, new Date(0), new Date(1)];
    const hashes = values.map((v) => hashRow({ f: v }, ["f"], "sig"));
    assert.equal(new Set(hashes).size, values.length);
    assert.equal(hashRow({ f: 5n }, ["f"], "sig"), hashRow({ f: BigInt(5) }, ["f"], "sig"));
  });
});

describe("changedFields", () => {
  const fields = ["id", "name", "email", "limit"];

  test("without a previous version: every field the record has, null included, in field order", () => {
    assert.deepEqual(changedFields(undefined, { name: "Ada", id: "1", email: null }, fields), [
      "id",
      "name",
      "email",
    ]);
  });

  test("only the fields whose value differs, by type too", () => {
    const prev: Values = { id: "1", name: "Ada", email: "a@x.io", limit: 10 };
    assert.deepEqual(changedFields(prev, { ...prev }, fields), []);
    assert.deepEqual(changedFields(prev, { ...prev, name: "Ada L." }, fields), ["name"]);
    assert.deepEqual(changedFields(prev, { ...prev, limit: "10" }, fields), ["limit"]);
    assert.deepEqual(changedFields(prev, { ...prev, email: null, limit: 11 }, fields), ["email", "limit"]);
  });

  test("a field missing on one side equals null, and fields outside the list are ignored", () => {
    assert.deepEqual(changedFields({ id: "1", name: null }, { id: "1", other: "x" }, fields), []);
    assert.deepEqual(changedFields({ id: "1" }, { id: "1", name: "" }, fields), ["name"]);
  });
});

describe("diffRows", () => {
  const fields = ["id", "name", "email"];
  const row = (key: string, values: Values) => ({ key, values: { id: key, ...values }, hash: `h-${key}` });

  test("a row that maps to the values stored is the same; one stored with other values or not at all changed", () => {
    const same = row("C1", { name: "Ada", email: null });
    const renamed = row("C2", { name: "Bea L.", email: "b@x.io" });
    const added = row("C3", { name: "Cy" });
    const previous = new Map<string, Values>([
      ["C1", { id: "C1", name: "Ada" }],
      ["C2", { id: "C2", name: "Bea", email: "b@x.io" }],
    ]);
    assert.deepEqual(diffRows([same, renamed, added], previous, fields), {
      same: [same],
      changed: [
        { row: renamed, previous: { id: "C2", name: "Bea", email: "b@x.io" }, fields: ["name"] },
        { row: added, previous: undefined, fields: ["id", "name"] },
      ],
    });
  });

  test("nothing to compare: nothing either way", () => {
    assert.deepEqual(diffRows([], new Map(), fields), { same: [], changed: [] });
  });
});

describe("properties", () => {
  const FIELDS = ["a", "b", "c", "d"];
  // Canonical values: what the converters produce (safe integers, text, booleans, null).
  const value: fc.Arbitrary<Value> = fc.oneof(
    fc.constantFrom<Value>(null, "", "1", 1, 0, true, false, "true", "null"),
    fc.string({ maxLength: 6, unit: "grapheme" }),
    fc.maxSafeInteger(),
    fc.boolean(),
  );
  const record = fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: FIELDS.length });
  // Pairs that share most values, so that equal and near-equal records are common.
  const pair = fc.tuple(record, record, fc.subarray(FIELDS)).map(([a, b, copy]): [Values, Values] => {
    const next: Values = { ...b };
    for (const f of copy) {
      if (f in a) next[f] = a[f]!;
      else delete next[f];
    }
    return [a, next];
  });
  const same = (x: Values, y: Values, f: string) => (x[f] ?? null) === (y[f] ?? null);

  test("the hashes are equal exactly when the values are equal over the fields", () => {
    fc.assert(
      fc.property(pair, ([a, b]) => {
        const equal = FIELDS.every((f) => same(a, b, f));
        assert.equal(hashRow(a, FIELDS, "sig") === hashRow(b, FIELDS, "sig"), equal);
      }),
      { numRuns: 500 },
    );
  });

  test("changedFields is empty exactly when the hashes are equal", () => {
    fc.assert(
      fc.property(pair, ([a, b]) => {
        assert.equal(
          changedFields(a, b, FIELDS).length === 0,
          hashRow(a, FIELDS, "sig") === hashRow(b, FIELDS, "sig"),
        );
      }),
      { numRuns: 500 },
    );
  });

  test("changedFields is exactly the fields that differ, in field order, and is symmetric", () => {
    fc.assert(
      fc.property(pair, fc.shuffledSubarray(FIELDS), ([a, b], fields) => {
        const expected = fields.filter((f) => !same(a, b, f));
        assert.deepEqual(changedFields(a, b, fields), expected);
        assert.deepEqual(changedFields(b, a, fields), expected);
      }),
      { numRuns: 500 },
    );
  });
});
