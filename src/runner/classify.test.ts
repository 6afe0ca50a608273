import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { MappingConfig } from "../config/mapping.schema.ts";
import { hashRow } from "../engine/diff.ts";
import { compileMapping } from "../engine/map.ts";
import { SeenKeys } from "../engine/seen-keys.ts";
import { DataError } from "../errors.ts";
import type { SourceRow } from "../sources/source.ts";
import { type ClassifyContext, classifyRows, digestRows } from "./classify.ts";
import { compileFilter } from "./filter.ts";

const mapping: MappingConfig = {
  entity: "customer",
  key: "id",
  fields: {
    id: { type: "string", required: false },
    name: { type: "string", required: true },
    segment: { type: "string", required: false },
  },
  sources: { erp: { id: "ID", name: "NAME", segment: "SEG" } },
  destinations: {},
};
const compiled = compileMapping(mapping, "erp");

function context(seen: SeenKeys | null): ClassifyContext {
  return {
    compiled,
    filter: compileFilter([{ field: "segment", not_in: ["X"] }]),
    sourceTime: (row) => (typeof row.TS === "string" ? row.TS : null),
    seen,
  };
}

const row = (line: number, values: Record<string, unknown>): SourceRow => ({ line, values });

describe("digestRows", () => {
  test("gives each row its key and digest, and the keys to look up without the refused ones", () => {
    const rows = [row(1, { ID: "C1", NAME: "Ada" }), row(2, { ID: "", NAME: "Bea" }), row(3, { ID: "C3" })];
    assert.deepEqual(digestRows(rows, compiled, "sig"), {
      keys: ["C1", null, "C3"],
      hashes: rows.map((r) => hashRow(r.values, ["ID", "NAME", "SEG"], "sig")),
      lookup: ["C1", "C3"],
    });
  });
});

describe("classifyRows", () => {
  const rows = [
    row(1, { ID: "C1", NAME: "Ada", SEG: "A" }),
    row(2, { ID: "C2", NAME: "Bea", SEG: "A", TS: "2024-05-01T00:00:00.000Z" }),
    row(3, { ID: "C3", NAME: "Cy", SEG: "B" }),
    row(4, { ID: "C3", NAME: "Cy again", SEG: "B" }),
    row(5, { ID: "C5", NAME: "", SEG: "A" }),
    row(6, { ID: "C6", NAME: "Dee", SEG: "X" }),
    row(7, { ID: "", NAME: "Eve", SEG: "A" }),
    row(8, { ID: "C1", NAME: "Ada", SEG: "A" }),
  ];
  const batch = { rows, rejects: [{ line: 4, error: new DataError("DATA_CSV_FIELD_COUNT", "a ragged line") }] };

  test("sorts each row into unchanged, filtered, rejected or a candidate for a change", () => {
    const digests = digestRows(rows, compiled, "sig");
    const stored = new Map([
      ["C1", digests.hashes[0]!],
      ["C2", "an older digest"],
      ["C5", "an older digest"],
    ]);
    const seen = new SeenKeys();
    assert.deepEqual(classifyRows(batch, digests, stored, context(seen)), {
      unchanged: 1,
      filtered: 1,
      rejects: [
        { line: 4, key: null, code: "DATA_CSV_FIELD_COUNT", reason: "a ragged line" },
        {
          line: 4,
          key: "C3",
          code: "DATA_DUPLICATE_KEY",
          reason: "key C3 was already read at line 3; only the first is applied. Fix the duplicate at the source",
        },
        {
          line: 5,
          key: "C5",
          code: "DATA_REQUIRED_MISSING",
          reason: "name (NAME) is empty; it is a required field",
        },
        { line: 7, key: null, code: "DATA_KEY_MISSING", reason: "id (ID) is empty; it is the key" },
        {
          line: 8,
          key: "C1",
          code: "DATA_DUPLICATE_KEY",
          reason: "key C1 was already read at line 1; only the first is applied. Fix the duplicate at the source",
        },
      ],
      candidates: [
        {
          key: "C2",
          values: { id: "C2", name: "Bea", segment: "A" },
          hash: digests.hashes[1]!,
          stored: true,
          line: 2,
          sourceTime: "2024-05-01T00:00:00.000Z",
        },
        {
          key: "C3",
          values: { id: "C3", name: "Cy", segment: "B" },
          hash: digests.hashes[2]!,
          stored: false,
          line: 3,
          sourceTime: null,
        },
      ],
      // C1, C2 and C5: a row refused for a bad value is still read, so its record is not taken for a delete.
      found: 3,
    });
    assert.deepEqual(
      ["C1", "C2", "C3", "C5", "C6", "C7"].filter((k) => seen.has(k)),
      ["C1", "C2", "C3", "C5", "C6"],
    );
  });

  test("a snapshot run remembers keys across batches; a cursor run only within one", () => {
    const first = [row(1, { ID: "C1", NAME: "Ada" })];
    const again = [row(9, { ID: "C1", NAME: "Ada" })];
    const classify = (seen: SeenKeys | null) =>
      [first, again].map((rows) =>
        classifyRows({ rows, rejects: [] }, digestRows(rows, compiled, "sig"), new Map(), context(seen)),
      );

    const [, snapshot] = classify(new SeenKeys());
    assert.deepEqual(snapshot!.candidates, []);
    assert.deepEqual(snapshot!.rejects, [
      {
        line: 9,
        key: "C1",
        code: "DATA_DUPLICATE_KEY",
        reason: "key C1 was already read earlier in this run; only the first is applied. Fix the duplicate at the source",
      },
    ]);

    const [, cursor] = classify(null);
    assert.deepEqual(cursor!.rejects, []);
    assert.deepEqual(
      cursor!.candidates.map((c) => [c.key, c.line]),
      [["C1", 9]],
    );
  });
});
