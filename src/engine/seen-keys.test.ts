import assert from "node:assert/strict";
import { test } from "node:test";
import { SeenKeys } from "./seen-keys.ts";

test("an empty set has nothing", () => {
  const seen = new SeenKeys();
  assert.equal(seen.size, 0);
  assert.equal(seen.has("C1"), false);
  assert.equal(seen.has(""), false);
});

test("add reports new keys and duplicates; has answers; size counts distinct keys", () => {
  const seen = new SeenKeys();
  assert.equal(seen.add("C1"), true);
  assert.equal(seen.add("C2"), true);
  assert.equal(seen.add("C1"), false);
  assert.equal(seen.add(""), true);
  assert.equal(seen.add(""), false);
  assert.equal(seen.size, 3);
  assert.equal(seen.has("C1"), true);
  assert.equal(seen.has("C2"), true);
  assert.equal(seen.has(""), true);
  assert.equal(seen.has("c1"), false);
  assert.equal(seen.has("C3"), false);
});

test("keys that differ only slightly are distinct", () => {
  const seen = new SeenKeys();
  for (const k of ["1", "01", "1 ", " 1", "１", "C-1", "C_1", "c-1"]) assert.equal(seen.add(k), true, k);
  assert.equal(seen.size, 8);
});

test("200k keys across many growths: every key kept, every duplicate seen", () => {
  const seen = new SeenKeys();
  const n = 200_000;
  for (let i = 0; i < n; i++) {
    assert.equal(seen.add(`K${i}`), true);
    // Re-adding right away, during growth, is a duplicate and does not count.
    if (i % 997 === 0) assert.equal(seen.add(`K${i}`), false);
  }
  assert.equal(seen.size, n);
  for (let i = 0; i < n; i++) if (!seen.has(`K${i}`)) assert.fail(`lost K${i}`);
  for (let i = 0; i < n; i++) if (seen.add(`K${i}`)) assert.fail(`K${i} added twice`);
  assert.equal(seen.size, n);
  let found = 0;
  for (let i = n; i < 2 * n; i++) if (seen.has(`K${i}`)) found++;
  assert.equal(found, 0);
});
