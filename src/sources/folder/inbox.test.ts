import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { returnToRoot } from "./inbox.ts";

describe("returnToRoot", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), "ferry-inbox-"));
    mkdirSync(path.join(root, "processing"));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  test("puts a taken file back under its name, or a free one: never over a file dropped since", async () => {
    const taken = path.join(root, "processing", "a.csv");
    writeFileSync(taken, "taken");
    assert.equal(await returnToRoot(root, taken, "a.csv"), path.join(root, "a.csv"));
    assert.deepEqual(readdirSync(path.join(root, "processing")), []);

    writeFileSync(taken, "taken again");
    assert.equal(await returnToRoot(root, taken, "a.csv"), path.join(root, "a (2).csv"));
    assert.equal(readFileSync(path.join(root, "a.csv"), "utf8"), "taken", "the file already there is untouched");
    assert.equal(readFileSync(path.join(root, "a (2).csv"), "utf8"), "taken again");
    assert.deepEqual(readdirSync(path.join(root, "processing")), []);
  });
});
