import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { lowerBound, parseDuration } from "./lookback.ts";

describe("parseDuration", () => {
  test("seconds, minutes, hours and days in milliseconds", () => {
    assert.equal(parseDuration("30s"), 30_000);
    assert.equal(parseDuration("10m"), 600_000);
    assert.equal(parseDuration("2h"), 7_200_000);
    assert.equal(parseDuration("1d"), 86_400_000);
    assert.equal(parseDuration(" 5 m "), 300_000);
    assert.equal(parseDuration("0s"), 0);
  });
  test("anything else is null", () => {
    for (const text of ["", "10", "1w", "1.5h", "-5m", "10 minutes", "m", "5M"]) {
      assert.equal(parseDuration(text), null, text);
    }
  });
});

describe("lowerBound", () => {
  test("no lookback: the cursor as it is", () => {
    assert.equal(lowerBound("2024-01-01 10:00:00", null), "2024-01-01 10:00:00");
    assert.equal(lowerBound("2024-01-01 10:00:00", 0), "2024-01-01 10:00:00");
    assert.equal(lowerBound("2024-01-01 10:00:00", "0"), "2024-01-01 10:00:00");
    assert.equal(lowerBound(100, null), 100);
  });

  test("keeps a space-separated layout", () => {
    assert.equal(lowerBound("2024-01-01 10:00:00", "10m"), "2024-01-01 09:50:00");
    assert.equal(lowerBound("2024-01-01 00:05:00", "10m"), "2023-12-31 23:55:00");
    assert.equal(lowerBound("2024-03-01 10:00:00", "1d"), "2024-02-29 10:00:00");
  });

  test("keeps ISO with T, Z and milliseconds", () => {
    assert.equal(lowerBound("2024-01-01T00:05:00.250Z", "10m"), "2023-12-31T23:55:00.250Z");
    assert.equal(lowerBound("2024-01-01T10:00:00Z", "30s"), "2024-01-01T09:59:30Z");
    assert.equal(lowerBound("2024-01-01T10:00:00", "2h"), "2024-01-01T08:00:00");
  });

  test("a numeric lookback on a date cursor is in seconds", () => {
    assert.equal(lowerBound("2024-01-01T00:05:00Z", 600), "2023-12-31T23:55:00Z");
    assert.equal(lowerBound("2024-01-01 10:00:00.5", 0.25), "2024-01-01 10:00:00.2");
  });

  test("fractions keep their length; digits beyond milliseconds are dropped (never a higher bound)", () => {
    assert.equal(lowerBound("2024-01-01T10:00:00.5", "1s"), "2024-01-01T09:59:59.5");
    assert.equal(lowerBound("2024-01-01T10:00:00.123456", "1s"), "2024-01-01T09:59:59.123000");
  });

  test("keeps a zone offset, so a text column compares like with like", () => {
    assert.equal(lowerBound("2024-01-01T10:00:00+02:00", "1h"), "2024-01-01T09:00:00+02:00");
    assert.equal(lowerBound("2024-01-01T10:00:00-05:00", "1h"), "2024-01-01T09:00:00-05:00");
    assert.equal(lowerBound("2024-01-01 00:30:00-0130", "1h"), "2023-12-31 23:30:00-0130");
    assert.equal(lowerBound("2024-01-01T10:00:00.5+02:00", "1h"), "2024-01-01T09:00:00.5+02:00");
    assert.equal(lowerBound("2024-01-01 10:00:00+00", "1h"), "2024-01-01 09:00:00+00");
    assert.equal(lowerBound("2024-01-01 00:30:00.123456-05", "1h"), "2023-12-31 23:30:00.123000-05");
  });

  test("date-only cursors step back whole days (a shorter lookback still takes the day before)", () => {
    assert.equal(lowerBound("2024-03-01", "1d"), "2024-02-29");
    assert.equal(lowerBound("2024-01-01", "2d"), "2023-12-30");
    assert.equal(lowerBound("2024-01-01", "1h"), "2023-12-31");
  });

  test("a numeric cursor minus a number", () => {
    assert.equal(lowerBound(100, 10), 90);
    assert.equal(lowerBound(100, "10"), 90);
    assert.equal(lowerBound(5, 10), -5);
  });

  test("errors", () => {
    assert.throws(() => lowerBound("ABC123", "1h"), {
      message: "cursor value \"ABC123\" is not a date and time; use a numeric lookback for other cursors",
    });
    assert.throws(() => lowerBound("2024-01-01 10:00", "1h"), {
      message:
        "cursor value \"2024-01-01 10:00\" is not a date and time; use a numeric lookback for other cursors",
    });
    assert.throws(() => lowerBound("2024-01-01 10:00:00", "5 minutes"), {
      message: "lookback \"5 minutes\" must be a duration such as 30s, 10m, 2h or 1d",
    });
    assert.throws(() => lowerBound(100, "1h"), {
      message: "lookback \"1h\" must be a number for a numeric cursor",
    });
  });
});
