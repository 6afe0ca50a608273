import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { FieldType } from "../config/mapping.schema.ts";
import { DataError } from "../errors.ts";
import { converterFor, isEmptyValue, normalizeDecimal } from "./values.ts";

const convert = (type: FieldType, raw: unknown) => converterFor(type)(raw);

/** Asserts that converting `raw` throws a DataError DATA_BAD_VALUE with exactly `message`. */
function rejects(type: FieldType, raw: unknown, message: string): void {
  assert.throws(
    () => convert(type, raw),
    (e: unknown) => {
      assert.ok(e instanceof DataError, `expected a DataError, got ${String(e)}`);
      assert.equal(e.code, "DATA_BAD_VALUE");
      assert.equal(e.kind, "data");
      assert.equal(e.message, message);
      return true;
    },
  );
}

describe("empty input", () => {
  for (const type of ["string", "email", "integer", "decimal", "boolean", "date", "datetime"] as const) {
    test(`${type}: null, undefined and "" are null`, () => {
      assert.equal(convert(type, null), null);
      assert.equal(convert(type, undefined), null);
      assert.equal(convert(type, ""), null);
    });
  }

  test("isEmptyValue", () => {
    assert.equal(isEmptyValue(null), true);
    assert.equal(isEmptyValue(undefined), true);
    assert.equal(isEmptyValue(""), true);
    assert.equal(isEmptyValue(" "), false);
    assert.equal(isEmptyValue(0), false);
    assert.equal(isEmptyValue(false), false);
  });
});

describe("string", () => {
  test("keeps text as is, spaces included", () => {
    assert.equal(convert("string", " Ada "), " Ada ");
  });
  test("prints numbers, bigints and booleans", () => {
    assert.equal(convert("string", 42), "42");
    assert.equal(convert("string", 1.5), "1.5");
    assert.equal(convert("string", 12345678901234567890n), "12345678901234567890");
    assert.equal(convert("string", false), "false");
  });
  test("a Date becomes ISO UTC", () => {
    assert.equal(convert("string", new Date(Date.UTC(2024, 0, 2, 3, 4, 5))), "2024-01-02T03:04:05.000Z");
  });
  test("refuses objects and invalid dates with a DataError", () => {
    rejects("string", { a: 1 }, "expected text, got [object Object]");
    rejects("string", new Date("nonsense"), "expected text, got Invalid Date");
  });
});

describe("email", () => {
  test("trims and lower-cases", () => {
    assert.equal(convert("email", "  Ada.Lovelace@Example.COM "), "ada.lovelace@example.com");
  });
  test("blank is null", () => {
    assert.equal(convert("email", "   "), null);
  });
  test("refuses what is not an address, showing the raw value", () => {
    rejects("email", "ada", "expected an email address, got \"ada\"");
    rejects("email", "ada@example", "expected an email address, got \"ada@example\"");
    rejects("email", "a da@example.com", "expected an email address, got \"a da@example.com\"");
    rejects("email", 5, "expected an email address, got 5");
  });
  test("a long raw value is cut at 60 characters in the message", () => {
    const long = `${"x".repeat(70)}@`;
    rejects("email", long, `expected an email address, got "${"x".repeat(60)}…"`);
  });
});

describe("integer", () => {
  test("numbers, text and safe bigints", () => {
    assert.equal(convert("integer", 42), 42);
    assert.equal(convert("integer", -7), -7);
    assert.equal(convert("integer", " 42 "), 42);
    assert.equal(convert("integer", "+7"), 7);
    assert.equal(convert("integer", "007"), 7);
    assert.equal(convert("integer", "-9007199254740991"), -9007199254740991);
    assert.equal(convert("integer", 5n), 5);
    assert.equal(convert("integer", 9007199254740991n), 9007199254740991);
    assert.equal(convert("integer", -9007199254740991n), -9007199254740991);
  });
  test("\"-0\" is zero (as -0, which JSON and === treat as 0)", () => {
    const zero = convert("integer", "-0");
    assert.ok(zero === 0);
    assert.equal(JSON.stringify(zero), "0");
  });
  test("refuses fractions and non-numbers", () => {
    rejects("integer", 1.5, "expected a whole number, got 1.5");
    rejects("integer", "1.0", "expected a whole number, got \"1.0\"");
    rejects("integer", "abc", "expected a whole number, got \"abc\"");
    rejects("integer", true, "expected a whole number, got true");
  });
  test("refuses unsafe integers instead of rounding them", () => {
    rejects(
      "integer",
      "9007199254740993",
      "expected a whole number within ±9007199254740991, got \"9007199254740993\" (use type decimal for larger numbers)",
    );
    rejects("integer", 2 ** 53, "expected a whole number, got 9007199254740992");
    rejects("integer", 9007199254740992n, "expected a whole number, got 9007199254740992");
    rejects("integer", -(2n ** 60n), "expected a whole number, got -1152921504606846976");
  });
});

describe("decimal", () => {
  const cases: [unknown, string][] = [
    ["1234.50", "1234.5"],
    ["0012.3400", "12.34"],
    ["+1.50", "1.5"],
    ["-0", "0"],
    ["-0.00", "0"],
    [-0, "0"],
    ["-1.20", "-1.2"],
    [".5", "0.5"],
    ["5.", "5"],
    ["100", "100"],
    ["1e3", "1000"],
    ["1E+2", "100"],
    ["1.5e-3", "0.0015"],
    ["-1.20e1", "-12"],
    ["123.456e1", "1234.56"],
    ["0.000", "0"],
    [" 12 ", "12"],
    [12, "12"],
    [0.1, "0.1"],
    [1e21, "1000000000000000000000"],
    [1e-7, "0.0000001"],
    [12345678901234567890n, "12345678901234567890"],
    ["12345678901234567890.123456789", "12345678901234567890.123456789"],
  ];
  for (const [raw, out] of cases) {
    test(`${typeof raw} ${String(raw)} -> ${out}`, () => {
      assert.equal(convert("decimal", raw), out);
    });
  }
  test("refuses what is not a plain decimal", () => {
    for (const raw of ["-", ".", "e5", "1,5", "1.2.3", "abc", "0x10", "1e"]) {
      rejects("decimal", raw, `expected a decimal number such as 1234.50, got "${raw}"`);
    }
    rejects("decimal", true, "expected a decimal number such as 1234.50, got true");
  });
  test("refuses NaN and infinities", () => {
    rejects("decimal", Number.NaN, "expected a decimal number, got NaN");
    rejects("decimal", Number.POSITIVE_INFINITY, "expected a decimal number, got Infinity");
    rejects("decimal", Number.NEGATIVE_INFINITY, "expected a decimal number, got -Infinity");
  });
  test("normalizeDecimal returns null for non-decimals", () => {
    assert.equal(normalizeDecimal("x"), null);
    assert.equal(normalizeDecimal(""), null);
    assert.equal(normalizeDecimal("+"), null);
  });

  test("property: normalizeDecimal is idempotent and agrees with Number() on plain decimals", () => {
    const digits = (min: number, max: number) =>
      fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: min, maxLength: max });
    const plain = fc
      .record({
        sign: fc.constantFrom("", "+", "-"),
        int: digits(0, 12),
        frac: fc.option(digits(0, 8), { nil: undefined }),
        exp: fc.option(fc.integer({ min: -12, max: 12 }), { nil: undefined }),
      })
      .filter((r) => r.int !== "" || (r.frac ?? "") !== "")
      .map(
        (r) =>
          `${r.sign}${r.int}${r.frac === undefined ? "" : `.${r.frac}`}${r.exp === undefined ? "" : `e${r.exp}`}`,
      );
    fc.assert(
      fc.property(plain, (text) => {
        const out = normalizeDecimal(text);
        assert.notEqual(out, null, text);
        assert.equal(normalizeDecimal(out!), out);
        assert.equal(Number(out), Number(text) === 0 ? 0 : Number(text));
        // Canonical: no exponent, no leading +, no leading zeros, no trailing fractional zeros, no -0.
        assert.match(out!, /^(0|-?[1-9]\d*|-?(0|[1-9]\d*)\.\d*[1-9])$/);
      }),
    );
  });

  test("property: the converter agrees with normalizeDecimal on any text of digits, signs and points", () => {
    // No exponents: the converter passes them to normalizeDecimal unchanged, and a large one is slow.
    const text = fc.string({ unit: fc.constantFrom(..."00123456789+-. "), maxLength: 10 });
    fc.assert(
      fc.property(text, (raw) => {
        const expected = raw === "" ? null : normalizeDecimal(raw);
        if (expected === null && raw !== "") assert.throws(() => convert("decimal", raw), DataError);
        else assert.equal(convert("decimal", raw), expected);
      }),
      { numRuns: 5000 },
    );
  });
});

describe("boolean", () => {
  test("bit and char flags", () => {
    const cases: [unknown, boolean][] = [
      [true, true],
      [false, false],
      [1, true],
      [0, false],
      [1n, true],
      [0n, false],
      ["1", true],
      ["0", false],
      ["Y", true],
      ["n", false],
      ["T", true],
      ["f", false],
      ["yes", true],
      [" No ", false],
      ["TRUE", true],
      ["false", false],
    ];
    for (const [raw, out] of cases) assert.equal(convert("boolean", raw), out, String(raw));
  });
  test("refuses anything else", () => {
    rejects("boolean", 2, "expected a yes/no value (true/false, 1/0, yes/no, y/n), got 2");
    rejects("boolean", "x", "expected a yes/no value (true/false, 1/0, yes/no, y/n), got \"x\"");
    rejects("boolean", "J", "expected a yes/no value (true/false, 1/0, yes/no, y/n), got \"J\"");
  });
});

describe("date", () => {
  const hint = " (add a transform such as { date: DD.MM.YYYY } for other layouts)";
  test("ISO dates, leap days included", () => {
    assert.equal(convert("date", "2024-01-15"), "2024-01-15");
    assert.equal(convert("date", " 2024-01-15 "), "2024-01-15");
    assert.equal(convert("date", "2024-02-29"), "2024-02-29");
  });
  test("the date part of an ISO date and time, as written", () => {
    assert.equal(convert("date", "2024-01-15T23:30:00-05:00"), "2024-01-15");
    assert.equal(convert("date", "2024-01-15 10:00:00"), "2024-01-15");
  });
  test("a Date object by its UTC day", () => {
    assert.equal(convert("date", new Date(Date.UTC(2024, 0, 2, 23, 59))), "2024-01-02");
  });
  test("refuses impossible days instead of rolling them over", () => {
    rejects("date", "2024-02-30", `expected a date YYYY-MM-DD, got "2024-02-30"${hint}`);
    rejects("date", "2023-02-29", `expected a date YYYY-MM-DD, got "2023-02-29"${hint}`);
    rejects("date", "2024-04-31", `expected a date YYYY-MM-DD, got "2024-04-31"${hint}`);
    rejects("date", "2024-13-01", `expected a date YYYY-MM-DD, got "2024-13-01"${hint}`);
    rejects("date", "2024-02-30T10:00:00", `expected a date YYYY-MM-DD, got "2024-02-30T10:00:00"${hint}`);
  });
  test("refuses other layouts and trailing junk", () => {
    rejects("date", "15.01.2024", `expected a date YYYY-MM-DD, got "15.01.2024"${hint}`);
    rejects("date", "2024-01-15xyz", `expected a date YYYY-MM-DD, got "2024-01-15xyz"${hint}`);
    rejects("date", "2024-1-5", `expected a date YYYY-MM-DD, got "2024-1-5"${hint}`);
  });
  test("refuses an invalid Date object with a DataError", () => {
    rejects("date", new Date("nonsense"), "expected a date, got Invalid Date");
  });
});

describe("datetime", () => {
  const cases: [string, string][] = [
    ["2024-01-15 10:00:00", "2024-01-15T10:00:00.000Z"],
    ["2024-01-15T10:00:00", "2024-01-15T10:00:00.000Z"],
    ["2024-01-15T10:00", "2024-01-15T10:00:00.000Z"],
    ["2024-01-15T10:00:00Z", "2024-01-15T10:00:00.000Z"],
    ["2024-01-15t10:00:00z", "2024-01-15T10:00:00.000Z"],
    ["2024-01-15T10:00:00.5Z", "2024-01-15T10:00:00.500Z"],
    ["2024-01-15T10:00:00.123456789Z", "2024-01-15T10:00:00.123456789Z"],
    ["2024-01-15T10:00:00+02:00", "2024-01-15T08:00:00.000Z"],
    ["2024-01-15T10:00:00+0200", "2024-01-15T08:00:00.000Z"],
    ["2024-01-15 10:00:00 +02:00", "2024-01-15T08:00:00.000Z"],
    ["2024-01-15T23:30:00-05:00", "2024-01-16T04:30:00.000Z"],
    ["2024-02-29T12:00:00", "2024-02-29T12:00:00.000Z"],
  ];
  for (const [raw, out] of cases) {
    test(`${raw} -> ${out}`, () => {
      assert.equal(convert("datetime", raw), out);
    });
  }
  test("every digit of the fraction is kept: milliseconds at least, then as many as the value has", () => {
    const kept: [string, string][] = [
      ["2024-01-15T10:00:00.123456Z", "2024-01-15T10:00:00.123456Z"],
      ["2024-01-15 10:00:00.123456", "2024-01-15T10:00:00.123456Z"],
      ["2024-01-15T10:00:00.000001Z", "2024-01-15T10:00:00.000001Z"],
      ["2024-01-15T10:00:00.1234567Z", "2024-01-15T10:00:00.1234567Z"],
      ["2024-01-15T10:00:00.000000001Z", "2024-01-15T10:00:00.000000001Z"],
      ["2024-01-15T10:00:00.123456+05:30", "2024-01-15T04:30:00.123456Z"],
      ["2024-12-31T23:59:59.999999-01:00", "2025-01-01T00:59:59.999999Z"],
      ["0999-01-01T00:00:00.5Z", "0999-01-01T00:00:00.500Z"],
    ];
    for (const [raw, out] of kept) assert.equal(convert("datetime", raw), out, raw);
  });
  test("one instant, one text: trailing zeros beyond milliseconds are dropped, so equal instants compare equal", () => {
    for (const raw of ["2024-01-15T10:00:00.1234560Z", "2024-01-15T10:00:00.123456000Z", "2024-01-15T12:00:00.123456+02:00"]) {
      assert.equal(convert("datetime", raw), "2024-01-15T10:00:00.123456Z", raw);
    }
    for (const raw of ["2024-01-15T10:00:00Z", "2024-01-15T10:00:00.0Z", "2024-01-15T10:00:00.000000Z", "2024-01-15 10:00:00"]) {
      assert.equal(convert("datetime", raw), "2024-01-15T10:00:00.000Z", raw);
    }
    assert.notEqual(convert("datetime", "2024-01-15T10:00:00.000001"), convert("datetime", "2024-01-15T10:00:00.000002"));
  });
  test("property: the fraction comes out as written, whatever the zone; a canonical value maps to itself", () => {
    const fraction = fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: 1, maxLength: 9 });
    const zone = fc.constantFrom("", "Z", "+02:00", "-0530", " +14:00", "-12:00");
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1000, 0, 1), max: Date.UTC(9998, 11, 31) }), fraction, zone, (ms, digits, z) => {
        const whole = new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19);
        const out = convert("datetime", `${whole}.${digits}${z}`) as string;
        const seconds = convert("datetime", `${whole}${z}`) as string;
        const kept = digits.replace(/0+$/, "");
        assert.equal(out, seconds.replace(".000Z", `.${kept.length <= 3 ? kept.padEnd(3, "0") : kept}Z`));
        assert.equal(convert("datetime", out), out);
      }),
    );
  });
  test("refuses more than nine fractional digits rather than cutting them", () => {
    rejects("datetime", "2024-01-15T10:00:00.1234567891Z", "expected an ISO 8601 date and time, got \"2024-01-15T10:00:00.1234567891Z\"");
  });
  test("a Date object", () => {
    assert.equal(convert("datetime", new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6))), "2024-01-02T03:04:05.006Z");
    rejects("datetime", new Date("nonsense"), "expected a date and time, got Invalid Date");
  });
  test("refuses impossible dates and times instead of rolling them over", () => {
    for (const raw of [
      "2024-02-30T10:00:00",
      "2024-02-30 10:00:00Z",
      "2023-02-29T00:00:00",
      "2024-04-31T00:00:00",
      "2024-13-01T00:00:00",
      "2024-01-15T25:00:00",
    ]) {
      rejects("datetime", raw, `expected an ISO 8601 date and time, got "${raw}"`);
    }
  });
  test("YYYY-MM-DD HH:MM:SS, valid or not, agrees with Date read as UTC", () => {
    const part = (max: number, width: number) =>
      fc.integer({ min: 0, max }).map((n) => String(n).padStart(width, "0"));
    fc.assert(
      fc.property(
        fc.tuple(part(9999, 4), part(13, 2), part(32, 2), part(25, 2), part(61, 2), part(61, 2)),
        fc.constantFrom(" ", "T"),
        ([y, mo, d, h, mi, se], sep) => {
          const raw = `${y}-${mo}-${d}${sep}${h}:${mi}:${se}`;
          const t = new Date(`${y}-${mo}-${d}T${h}:${mi}:${se}Z`);
          const calendar = new Date(Date.UTC(+y, +mo - 1, +d));
          const valid =
            !Number.isNaN(t.getTime()) &&
            calendar.getUTCFullYear() === +y &&
            calendar.getUTCMonth() === +mo - 1 &&
            calendar.getUTCDate() === +d;
          if (valid) assert.equal(convert("datetime", raw), t.toISOString());
          else rejects("datetime", raw, `expected an ISO 8601 date and time, got "${raw}"`);
        },
      ),
      { numRuns: 5000 },
    );
  });
  test("refuses a date without a time and other layouts", () => {
    rejects("datetime", "2024-01-15", "expected an ISO 8601 date and time, got \"2024-01-15\"");
    rejects("datetime", "15.01.2024 10:00", "expected an ISO 8601 date and time, got \"15.01.2024 10:00\"");
    rejects("datetime", 1705312800000, "expected an ISO 8601 date and time, got 1705312800000");
  });
});

test("a decimal with an absurd exponent is refused, not expanded", () => {
  assert.throws(() => converterFor("decimal")("1e999999999"), { code: "DATA_BAD_VALUE" });
  assert.equal(converterFor("decimal")("1.5e3"), "1500");
});
