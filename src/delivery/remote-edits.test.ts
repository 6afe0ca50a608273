import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { canonicalRemote, editedProperties, sameValue } from "./remote-edits.ts";

describe("canonicalRemote: a destination's spelling of a value, in Ferry's form for the field's type", () => {
  test("numbers, decimals, booleans and emails as text come back typed", () => {
    assert.equal(canonicalRemote("5000", "integer"), 5000);
    assert.equal(canonicalRemote("12.50", "decimal"), "12.5");
    assert.equal(canonicalRemote("true", "boolean"), true);
    assert.equal(canonicalRemote("Ada@Example.com", "email"), "ada@example.com");
    assert.equal(canonicalRemote("", "integer"), null);
  });

  test("instants compare as instants", () => {
    assert.equal(canonicalRemote("2025-03-01T10:00:00Z", "datetime"), canonicalRemote("2025-03-01T10:00:00.000Z", "datetime"));
  });

  test("text stays exactly as read: leading zeros and plus signs are edits", () => {
    assert.equal(canonicalRemote("0042", "string"), "0042");
    assert.ok(!sameValue(canonicalRemote("+4930123", "string"), "4930123"));
    assert.ok(!sameValue(canonicalRemote("9007199254740993", "string"), "9007199254740992"));
  });

  test("a value the field's type refuses is kept as read; an empty text is no value", () => {
    assert.equal(canonicalRemote("lots", "integer"), "lots");
    assert.ok(sameValue(null, ""));
    assert.ok(sameValue(undefined, null));
    assert.ok(!sameValue("", "0"));
  });
});

describe("editedProperties", () => {
  const item = { changed: ["phone", "email", "city"], properties: { phone: "+1 555", email: "new@x.example", city: "Oslo" } };

  test("a field the destination holds differently from what Ferry pushed and from what it sends is an edit", () => {
    const baseline = { phone: "+1 000", email: "old@x.example", city: "Bergen" };
    const remote = { phone: "+1 999", email: "old@x.example", city: "Bergen" };
    assert.deepEqual(editedProperties(item, baseline, remote), ["phone"]);
  });

  test("a destination that already holds the value Ferry sends is no edit", () => {
    const baseline = { phone: "+1 000", email: "old@x.example", city: "Bergen" };
    const remote = { phone: "+1 555", email: "new@x.example", city: "Oslo" };
    assert.deepEqual(editedProperties(item, baseline, remote), []);
  });

  test("a date-time the destination keeps to the millisecond, where Ferry sent microseconds, is no edit", () => {
    const times = { changed: ["at"], properties: { at: "2025-03-01T11:00:00.654321Z" } };
    const pushed = { at: "2025-03-01T10:00:00.123456Z" };
    assert.deepEqual(editedProperties(times, pushed, { at: canonicalRemote("2025-03-01T10:00:00.123Z", "datetime") }), []);
    assert.deepEqual(editedProperties(times, pushed, { at: "2025-03-01T11:00:00.654Z" }), []);
    assert.deepEqual(editedProperties(times, pushed, { at: "2025-03-01T10:00:00.124Z" }), ["at"]);
    assert.deepEqual(editedProperties(times, { at: "2025-03-01T10:00:00.123Z" }, { at: "2025-03-01T10:00:00.1234Z" }), ["at"]);
  });

  test("a field Ferry never pushed, or the destination did not return, is no edit", () => {
    assert.deepEqual(editedProperties(item, { phone: "+1 000" }, { email: "someone@x.example" }), []);
    assert.deepEqual(editedProperties(item, {}, { phone: "+1 999" }), []);
  });

  test("only the fields the update would send are compared", () => {
    const baseline = { phone: "+1 000", name: "Ada" };
    const remote = { phone: "+1 000", name: "Ada Lovelace" };
    assert.deepEqual(editedProperties({ ...item, changed: ["phone"] }, baseline, remote), []);
  });
});
