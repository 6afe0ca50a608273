import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalRow, rawValue } from "./canonical.ts";
import { Read, Refused } from "./dialects/dialect.ts";

test("values made canonical; the raw form kept for cursors", () => {
  const stamp = new Read("2024-01-01 10:00:00", "2024-01-01T09:00:00Z");
  const row = canonicalRow(
    { a: stamp, b: 12n, c: Buffer.from("hi"), d: new Date(Date.UTC(2024, 0, 1)), e: null, f: { x: 1 }, g: "t", h: 1.5, i: true },
    100,
  );
  assert.deepEqual(row, {
    values: { a: "2024-01-01T09:00:00Z", b: "12", c: "aGk=", d: "2024-01-01T00:00:00.000Z", e: null, f: "{\"x\":1}", g: "t", h: 1.5, i: true },
  });
  assert.equal(rawValue(stamp), "2024-01-01 10:00:00");
  assert.equal(rawValue(7), 7);
});

test("a value too large or impossible to carry refuses its row, naming the column", () => {
  assert.deepEqual(canonicalRow({ notes: "é".repeat(60) }, 100), {
    refused: "column notes holds 120 bytes, more than max_lob_bytes (100): raise max_lob_bytes in the job or leave the column out of the query",
  });
  assert.match((canonicalRow({ blob: Buffer.alloc(101) }, 100) as { refused: string }).refused, /column blob holds 101 bytes/);
  assert.deepEqual(canonicalRow({ n: new Refused("no") }, 100), { refused: "no" });
  assert.deepEqual(canonicalRow({ s: "x".repeat(100) }, 100), { values: { s: "x".repeat(100) } });
});

test("an array or JSON value holding NaN or an infinity refuses its row, naming the column; none becomes null", () => {
  assert.deepEqual(canonicalRow({ ratios: [0.5, Number.NaN] }, 100), {
    refused: "column ratios holds NaN or an infinity, which JSON cannot carry: cast it to text in the query (on PostgreSQL ratios::text[] for an array) or leave the column out",
  });
  assert.ok("refused" in canonicalRow({ doc: { a: [Number.POSITIVE_INFINITY] } }, 100));
  assert.deepEqual(canonicalRow({ ids: [2n ** 63n - 1n, null] }, 100), { values: { ids: "[9223372036854775807,null]" } });
});
