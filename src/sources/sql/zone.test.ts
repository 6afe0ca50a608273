import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { offsetToUtc, wallClockToUtc, zoneOffset } from "./zone.ts";

describe("wallClockToUtc", () => {
  test("UTC keeps the wall clock and the fraction as written", () => {
    assert.equal(wallClockToUtc("2024-01-15 10:20:30", "UTC"), "2024-01-15T10:20:30Z");
    assert.equal(wallClockToUtc("2024-01-15T10:20:30.123456", "UTC"), "2024-01-15T10:20:30.123456Z");
    assert.equal(wallClockToUtc("2024-01-15 10:20:30.1234567", "UTC"), "2024-01-15T10:20:30.1234567Z");
  });

  test("a named zone, winter and summer", () => {
    assert.equal(wallClockToUtc("2024-01-15 10:00:00", "Europe/Paris"), "2024-01-15T09:00:00Z");
    assert.equal(wallClockToUtc("2024-07-15 10:00:00.5", "Europe/Paris"), "2024-07-15T08:00:00.5Z");
    assert.equal(wallClockToUtc("2024-07-15 10:00:00", "America/New_York"), "2024-07-15T14:00:00Z");
    assert.equal(wallClockToUtc("2024-01-01 00:30:00", "Asia/Kolkata"), "2023-12-31T19:00:00Z");
  });

  test("an hour that happens twice is read as the first", () => {
    // Europe/Paris leaves summer time at 03:00 CEST on 2024-10-27: 02:30 happens at 00:30Z and 01:30Z.
    assert.equal(wallClockToUtc("2024-10-27 02:30:00", "Europe/Paris"), "2024-10-27T00:30:00Z");
    assert.equal(wallClockToUtc("2024-11-03 01:30:00", "America/New_York"), "2024-11-03T05:30:00Z");
  });

  test("a time in the spring gap is read with the offset from before it", () => {
    // 02:30 does not exist in Paris on 2024-03-31: read as 02:30 CET = 01:30Z.
    assert.equal(wallClockToUtc("2024-03-31 02:30:00", "Europe/Paris"), "2024-03-31T01:30:00Z");
    assert.equal(wallClockToUtc("2024-03-31 03:30:00", "Europe/Paris"), "2024-03-31T01:30:00Z");
  });

  test("anything else is null", () => {
    for (const text of ["2024-01-15", "10:00:00", "2024-13-45 10:00:00x", "yesterday", "2024-01-15 10:00"]) {
      assert.equal(wallClockToUtc(text, "UTC"), null, text);
    }
  });
});

describe("zoneOffset", () => {
  test("east is positive", () => {
    assert.equal(zoneOffset("Europe/Paris", Date.UTC(2024, 0, 1)), 3_600_000);
    assert.equal(zoneOffset("America/New_York", Date.UTC(2024, 0, 1)), -5 * 3_600_000);
    assert.equal(zoneOffset("UTC", Date.UTC(2024, 0, 1)), 0);
  });
});

describe("offsetToUtc", () => {
  test("PostgreSQL and Oracle layouts", () => {
    assert.equal(offsetToUtc("2024-01-01 10:00:00+02"), "2024-01-01T08:00:00Z");
    assert.equal(offsetToUtc("2024-01-01 10:00:00.123456+05:30"), "2024-01-01T04:30:00.123456Z");
    assert.equal(offsetToUtc("2024-01-01T00:30:00.5-0130"), "2024-01-01T02:00:00.5Z");
    assert.equal(offsetToUtc("2024-01-01 10:00:00Z"), "2024-01-01T10:00:00Z");
  });
  test("anything else is null", () => {
    assert.equal(offsetToUtc("2024-01-01 10:00:00"), null);
    assert.equal(offsetToUtc("infinity"), null);
  });
});

test("an impossible calendar date is not a date-time", () => {
  assert.equal(wallClockToUtc("2024-02-30 10:00:00", "UTC"), null);
  assert.equal(wallClockToUtc("2024-13-01 10:00:00", "UTC"), null);
});
