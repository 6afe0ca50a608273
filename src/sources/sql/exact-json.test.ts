import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { normalizeDecimal } from "../../engine/values.ts";
import { exactNumber, jsonText, parseJsonExact } from "./exact-json.ts";

const roundTrip = (text: string) => jsonText(parseJsonExact(text));

describe("exact JSON", () => {
  test("numbers a double would round, overflow or underflow are written back as they were read", () => {
    assert.equal(roundTrip("12345678901234567890"), "12345678901234567890");
    assert.equal(roundTrip("[1e400, 1e-400, -1E+999]"), "[1e400,1e-400,-1E+999]");
    assert.equal(roundTrip("{\"price\": 0.1234567890123456789, \"id\": -9223372036854775809}"), "{\"price\":0.1234567890123456789,\"id\":-9223372036854775809}");
  });

  test("an ordinary document keeps the text JSON.parse and JSON.stringify gave it", () => {
    for (const text of ["{\"a\": 1.10, \"b\": [1, 2.5, 1E2, -0, 0.0]}", "[\"x\\u00e9\", true, null, {}]", "0.1", "9007199254740991", "1e21", "1e-7", "{\"a\":1,\"a\":2}"]) {
      assert.equal(roundTrip(text), JSON.stringify(JSON.parse(text)), text);
    }
  });

  test("a top-level number: a double when exact, else its text", () => {
    assert.equal(exactNumber("2.50"), 2.5);
    assert.equal(jsonText(exactNumber("12345678901234567890.5")), "12345678901234567890.5");
    assert.equal(parseJsonExact("\"text\""), "text");
  });

  test("NaN and infinities, which JSON would write as null, are refused; bigints are written as digits", () => {
    assert.equal(jsonText([1, Number.NaN]), null);
    assert.equal(jsonText({ a: [Number.NEGATIVE_INFINITY] }), null);
    assert.equal(jsonText([2n ** 64n, null]), "[18446744073709551616,null]");
  });

  test("property: every JSON number literal comes back the same number, digit for digit", () => {
    const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: min, maxLength: max });
    const literal = fc
      .record({
        sign: fc.constantFrom("", "-"),
        int: fc.oneof(fc.constant("0"), fc.tuple(fc.constantFrom(..."123456789"), digits(0, 30)).map(([a, b]) => a + b)),
        frac: fc.option(digits(1, 30), { nil: undefined }),
        exp: fc.option(fc.integer({ min: -400, max: 400 }), { nil: undefined }),
      })
      .map((r) => `${r.sign}${r.int}${r.frac === undefined ? "" : `.${r.frac}`}${r.exp === undefined ? "" : `e${r.exp}`}`);
    fc.assert(
      fc.property(literal, (text) => {
        const out = roundTrip(`[${text}]`)!.slice(1, -1);
        // Either the literal itself, or JavaScript's form of the very number it stands for.
        if (out !== text) assert.equal(out, JSON.stringify(Number(text)), text);
        assert.equal(normalizeDecimal(out), normalizeDecimal(text), text);
      }),
    );
  });
});
