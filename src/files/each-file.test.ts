import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { SourceValidateContext } from "../config/connector.ts";
import { type AppliedFile, checkEachFile, eachFileOf, type FileHistory, fileVerdict } from "./each-file.ts";

const applied = (name: string, hash: string, runId: number): AppliedFile => ({ name, hash, runId, processedAt: `2026-01-0${runId}T06:00:00.000Z` });
const monday = applied("monday.csv", "A", 1);
const tuesday = applied("tuesday.csv", "B", 2);

/** The ledger after monday (A) then tuesday (B), asked about content `hash`. */
const history = (hash: string): FileHistory => ({ firstWithHash: { A: monday, B: tuesday }[hash] ?? null, lastApplied: tuesday });
const nothingYet: FileHistory = { firstWithHash: null, lastApplied: null };

describe("fileVerdict", () => {
  test("a first file, or new content, is applied whatever the files are", () => {
    for (const kind of ["full_list", "changes"] as const) {
      assert.deepEqual(fileVerdict(kind, "A", nothingYet), { apply: true });
      assert.deepEqual(fileVerdict(kind, "C", history("C")), { apply: true });
    }
  });

  test("changes: content applied by any earlier file is a duplicate of the first file that applied it", () => {
    const older = fileVerdict("changes", "A", history("A"));
    assert.ok(!older.apply);
    assert.equal(older.previous, monday);
    assert.equal(older.reason, "the same content as monday.csv, applied by run 1 on 2026-01-01T06:00:00.000Z: not applied again");
    const last = fileVerdict("changes", "B", history("B"));
    assert.ok(!last.apply);
    assert.equal(last.previous, tuesday);
  });

  test("full_list: content superseded since is applied again, with a note naming both files", () => {
    assert.deepEqual(fileVerdict("full_list", "A", history("A")), {
      apply: true,
      note: "the same content as monday.csv (run 1), superseded by tuesday.csv (run 2): applied again, as each file of this job is the full list",
    });
  });

  test("full_list: the same content as the last file applied is a duplicate (nothing would change)", () => {
    const again = fileVerdict("full_list", "B", history("B"));
    assert.ok(!again.apply);
    assert.equal(again.previous, tuesday);
    assert.match(again.reason, /^the same content as tuesday\.csv, the last file applied \(run 2 on .*\): nothing would change/);
    // A list applied, superseded, then applied again is the last one: a fourth copy is a duplicate of the third.
    const third = applied("wednesday.csv", "A", 3);
    const v = fileVerdict("full_list", "A", { firstWithHash: monday, lastApplied: third });
    assert.ok(!v.apply);
    assert.equal(v.previous, third);
  });
});

describe("eachFileOf", () => {
  test("the setting wins; unset, a job that detects deletes reads full lists, one that ignores them changes", () => {
    assert.equal(eachFileOf("changes", "ignore"), "changes");
    assert.equal(eachFileOf("full_list", "ignore"), "full_list");
    assert.equal(eachFileOf(undefined, "ignore"), "changes");
    for (const policy of ["flag", "propagate", "archive"] as const) assert.equal(eachFileOf(undefined, policy), "full_list");
  });
});

describe("checkEachFile", () => {
  const context = (policy: SourceValidateContext["job"]["deletes"]["policy"]): SourceValidateContext => ({
    project: { connections: {}, destinations: {} },
    at: (field) => ({ file: "jobs/drops.yaml", line: 7, path: `source.${field}` }),
    job: { mode: "snapshot", deletes: { policy } },
  });

  test("files of changes cannot detect deletes: the error names the field, the policy and the way out", () => {
    const [error, ...more] = checkEachFile({ each_file: "changes" }, context("propagate"));
    assert.deepEqual(more, []);
    assert.equal(error?.code, "CONFIG_CHANGES_FILE_DELETES");
    assert.match(error!.message, /^jobs\/drops\.yaml:7 \(source\.each_file\): each_file: changes says a file holds only new or changed/);
    assert.match(error!.message, /policy, propagate \(flag unless deletes: sets one\), every record missing from a file would be deleted/);
    assert.match(error!.message, /Set deletes: \{ policy: ignore \}, or each_file: full_list/);
    assert.match(checkEachFile({ each_file: "changes" }, context("flag"))[0]!.message, /would be flagged as deleted/);
  });

  test("every other combination is accepted", () => {
    assert.deepEqual(checkEachFile({ each_file: "changes" }, context("ignore")), []);
    for (const policy of ["flag", "propagate", "archive", "ignore"] as const) {
      assert.deepEqual(checkEachFile({ each_file: "full_list" }, context(policy)), []);
      assert.deepEqual(checkEachFile({}, context(policy)), []);
    }
  });
});
