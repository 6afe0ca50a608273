import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { editedProperties, sameValue } from "./remote-edits.ts";

describe("sameValue: a destination's spelling of a value", () => {
  test("numbers, booleans and empties as text are the same value", () => {
    assert.ok(sameValue(42, "42"));
    assert.ok(sameValue("12.50", 12.5));
    assert.ok(sameValue(true, "true"));
    assert.ok(sameValue(null, ""));
    assert.ok(sameValue(undefined, null));
  });

  test("instants compare as instants", () => {
    assert.ok(sameValue("2025-03-01T10:00:00Z", "2025-03-01T10:00:00.000Z"));
    assert.ok(!sameValue("2025-03-01T10:00:00Z", "2025-03-01T10:00:01Z"));
  });

  test("text compares exactly", () => {
    assert.ok(!sameValue("Ada", "ada"));
    assert.ok(!sameValue("Ada", "Ada "));
    assert.ok(!sameValue("0042", "42x"));
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
