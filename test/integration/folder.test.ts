/**
 * The `folder` source end to end: files dropped into a folder, taken when complete, applied as runs of
 * their own into the HubSpot emulator, and left in archive/ or failed/ with a report for every line.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, closeSync, existsSync, openSync, readdirSync, readFileSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { parse } from "csv-parse/sync";
import type { FerryError } from "../../src/errors.ts";
import { createTestProject, type TestProject } from "../support/project.ts";
import { customerMapping, fieldTeamCsv } from "../support/customers.ts";

const DAY = new Date().toISOString().slice(0, 10);

function folderJob(ready: object = { stable_for: "200ms" }, overrides: Record<string, unknown> = {}) {
  return {
    source: { type: "folder", path: "drop", pattern: "*.csv", format: { format: "csv" }, ready },
    mapping: "customer",
    as: "field_team",
    mode: "snapshot",
    batch_size: 2,
    deletes: { policy: "ignore" },
    ...overrides,
  };
}

const rows = (n: number, from = 1) =>
  Array.from({ length: n }, (_, i) => ({ id: `C${String(from + i).padStart(4, "0")}`, first: `First${from + i}`, email: `c${from + i}@field.example` }));

function report(file: string): Record<string, string>[] {
  return parse(readFileSync(`${file}.report.csv`, "utf8"), { columns: true }) as Record<string, string>[];
}

describe("folder source", () => {
  let p: TestProject;
  const drop = (name: string, text: string) => writeFileSync(path.join(p.dir, "drop", name), text);
  const inFolder = (sub: string) => (existsSync(path.join(p.dir, "drop", sub)) ? readdirSync(path.join(p.dir, "drop", sub)).sort() : []);

  beforeEach(async () => {
    p = await createTestProject({
      backend: "sqlite",
      mappings: { customer: customerMapping({ fieldTeam: true }) },
      jobs: { drops: folderJob() },
      files: { "drop/.keep": "" },
    });
  });
  afterEach(() => p.cleanup());

  test("a complete file is applied, archived by day, and reported line by line", async () => {
    drop("field-team.csv", fieldTeamCsv([...rows(3), "C0004,Four,not-an-email,", "C0005,too,many,fields,here"]));
    const result = await p.run("drops");
    assert.equal(result.status, "partial", result.error?.message ?? "");
    assert.equal(result.files?.length, 1);
    const [file] = result.files!;
    assert.equal(file!.outcome, "partial");
    assert.equal(file!.movedTo, path.join("drop", "archive", DAY, "field-team.csv"));
    assert.deepEqual(result.counts.read, 5);
    const lines = report(path.join(p.dir, file!.movedTo));
    assert.deepEqual(
      lines.map((l) => [l.line, l.key, l.outcome]),
      [
        ["2", "C0001", "accepted"],
        ["3", "C0002", "accepted"],
        ["4", "C0003", "accepted"],
        ["5", "C0004", "rejected"],
        ["6", "", "rejected"],
      ],
    );
    assert.match(lines[3]!.reason!, /email/);
    assert.match(lines[4]!.reason!, /line 6 has 5 fields/);
    assert.deepEqual(file!.report, { read: 5, accepted: 3, rejected: 2 });
    assert.deepEqual(inFolder("processing"), []);
    await p.deliver();
    assert.equal(p.emulator.records("contacts").length, 3);
  });

  test("the same content dropped again, under another name, is reported and not applied twice", async () => {
    const text = fieldTeamCsv(rows(2));
    drop("monday.csv", text);
    assert.equal((await p.run("drops")).files?.[0]?.outcome, "applied");
    drop("monday-again.csv", text);
    const again = await p.run("drops");
    const [file] = again.files!;
    assert.equal(file!.outcome, "duplicate");
    assert.equal(again.counts.read, 0);
    const lines = report(path.join(p.dir, file!.movedTo));
    assert.equal(lines[0]!.outcome, "duplicate");
    assert.match(lines[0]!.reason!, /the same content as monday\.csv, applied by run \d+/);
    assert.deepEqual(inFolder(path.join("archive", DAY)), ["monday-again.csv", "monday-again.csv.report.csv", "monday.csv", "monday.csv.report.csv"]);

    // Files of changes (deletes ignored): equal to any earlier file, even one applied before others, is a re-drop.
    drop("tuesday.csv", fieldTeamCsv(rows(1, 3)));
    assert.equal((await p.run("drops")).files?.[0]?.outcome, "applied");
    drop("monday-once-more.csv", text);
    const late = await p.run("drops");
    assert.equal(late.files?.[0]?.outcome, "duplicate");
    assert.match(late.files?.[0]?.reason ?? "", /^the same content as monday\.csv, applied by run \d+/);
  });

  test("each_file says what the files are; a job of changes that detects deletes does not load", async () => {
    // Full lists whose deletes the job ignores: an older list is still applied again.
    p.writeFile("jobs/drops.yaml", folderJob(undefined, { source: { ...folderJob().source, each_file: "full_list" } }));
    p.reload();
    drop("a.csv", fieldTeamCsv(rows(2)));
    drop("b.csv", fieldTeamCsv(rows(1, 5)));
    assert.deepEqual((await p.run("drops")).files?.map((f) => f.outcome), ["applied", "applied"]);
    drop("a-again.csv", fieldTeamCsv(rows(2)));
    assert.equal((await p.run("drops")).files?.[0]?.outcome, "applied");

    const changes = { source: { ...folderJob().source, each_file: "changes" } };
    p.writeFile("jobs/drops.yaml", folderJob(undefined, { ...changes, deletes: { policy: "propagate" } }));
    assert.throws(
      () => p.reload(),
      /jobs\/drops\.yaml:\d+:\d+ \(source\.each_file\): each_file: changes says a file holds only new.*Set deletes: \{ policy: ignore \}/,
    );
    const { deletes: _, ...noDeletes } = folderJob(undefined, changes);
    p.writeFile("jobs/drops.yaml", noDeletes);
    assert.throws(() => p.reload(), /policy, flag \(flag unless deletes: sets one\), every record missing from a file would be flagged/);
  });

  test("full lists: a file equal to an older, superseded one is applied again (a deleted record comes back)", async () => {
    p.writeFile("jobs/drops.yaml", folderJob(undefined, { deletes: { policy: "propagate", max_share: 0.5 } }));
    p.reload();
    const live = () => p.emulator.records("contacts").map((r) => r.properties.customer_no).sort();
    const both = fieldTeamCsv(rows(2));
    drop("monday.csv", both);
    assert.equal((await p.run("drops")).files?.[0]?.outcome, "applied");
    await p.deliver();
    assert.deepEqual(live(), ["C0001", "C0002"]);

    drop("tuesday.csv", fieldTeamCsv(rows(1)));
    const tuesday = await p.run("drops");
    assert.equal(tuesday.files?.[0]?.outcome, "applied", tuesday.error?.message ?? "");
    assert.equal(tuesday.counts.deleted, 1);
    await p.deliver();
    assert.deepEqual(live(), ["C0001"]);

    drop("wednesday.csv", both);
    const wednesday = await p.run("drops");
    const [file] = wednesday.files!;
    assert.equal(file!.outcome, "applied", file!.reason ?? "");
    assert.ok(file!.runId);
    assert.match(file!.reason ?? "", /the same content as monday\.csv \(run \d+\), superseded by tuesday\.csv \(run \d+\): applied again/);
    await p.deliver();
    assert.deepEqual(live(), ["C0001", "C0002"], "C0002 is back");

    // The same list again: it is the last one applied, so nothing would change.
    drop("thursday.csv", both);
    const thursday = await p.run("drops");
    assert.equal(thursday.files?.[0]?.outcome, "duplicate");
    assert.match(thursday.files?.[0]?.reason ?? "", /the same content as wednesday\.csv, the last file applied \(run \d+/);
    assert.equal(thursday.counts.read, 0);
    const ledger = await p.store.knex("files").orderBy("id").select("name", "outcome", "run_id");
    assert.deepEqual(
      ledger.map((f: { name: string; outcome: string }) => [f.name, f.outcome]),
      [["monday.csv", "applied"], ["tuesday.csv", "applied"], ["wednesday.csv", "applied"], ["thursday.csv", "duplicate"]],
    );
  });

  test("a file that cannot be parsed changes nothing and goes to failed/ with its report", async () => {
    const before = await p.tableCounts();
    drop("broken.csv", `${fieldTeamCsv(rows(3))}C0009,"unclosed,x@y.example,\n`);
    const result = await p.run("drops");
    assert.equal(result.status, "failed");
    const [file] = result.files!;
    assert.equal(file!.outcome, "failed");
    assert.equal(file!.movedTo, path.join("drop", "failed", "broken.csv"));
    const lines = report(path.join(p.dir, file!.movedTo));
    assert.ok(lines.every((l) => l.outcome === "rejected" || l.outcome === "failed"));
    assert.equal(lines.filter((l) => l.outcome === "rejected").length, file!.report.read);
    assert.match(lines.at(-1)!.reason!, /never closed|unclosed|quote/i);
    const after = await p.tableCounts();
    assert.deepEqual({ ...after, runs: 0, files: 0 }, { ...before, runs: 0, files: 0 });
  });

  test("links, FIFOs and files over the size limit are moved to failed/ unopened", async () => {
    const target = path.join(p.dir, "secret.csv");
    writeFileSync(target, fieldTeamCsv(rows(1)));
    symlinkSync(target, path.join(p.dir, "drop", "link.csv"));
    execFileSync("mkfifo", [path.join(p.dir, "drop", "pipe.csv")]);
    p.writeFile("jobs/drops.yaml", folderJob({ stable_for: "100ms" }, { source: { ...folderJob().source, max_file_bytes: 50 } }));
    p.reload();
    drop("big.csv", fieldTeamCsv(rows(5)));
    const result = await p.run("drops");
    assert.deepEqual(result.files, []);
    assert.deepEqual(inFolder("failed"), ["big.csv", "big.csv.report.csv", "link.csv", "link.csv.report.csv", "pipe.csv", "pipe.csv.report.csv"]);
    assert.match(readFileSync(path.join(p.dir, "drop", "failed", "link.csv.report.csv"), "utf8"), /symbolic link/);
    assert.match(readFileSync(path.join(p.dir, "drop", "failed", "pipe.csv.report.csv"), "utf8"), /not a regular file/);
    assert.match(readFileSync(path.join(p.dir, "drop", "failed", "big.csv.report.csv"), "utf8"), /max_file_bytes/);
    assert.equal(readFileSync(target, "utf8"), fieldTeamCsv(rows(1)), "the link's target is untouched");
  });

  test("a file still being written is left for the next run; a marker job waits for name.done", async () => {
    drop("growing.csv", fieldTeamCsv(rows(2)));
    let n = 100;
    const grow = setInterval(() => appendFileSync(path.join(p.dir, "drop", "growing.csv"), `C0${n++},More,more${n}@x.example,\r\n`), 40);
    try {
      const result = await p.run("drops");
      assert.deepEqual(result.files, [], "not stable: not taken");
    } finally {
      clearInterval(grow);
    }
    assert.equal((await p.run("drops")).files?.[0]?.outcome, "applied");

    p.writeFile("jobs/drops.yaml", folderJob({ marker: ".done" }));
    p.reload();
    drop("waiting.csv", fieldTeamCsv(rows(1, 50)));
    assert.deepEqual((await p.run("drops")).files, []);
    writeFileSync(path.join(p.dir, "drop", "waiting.csv.done"), "");
    const marked = await p.run("drops");
    assert.equal(marked.files?.[0]?.outcome, "applied");
    assert.equal(existsSync(path.join(p.dir, "drop", "waiting.csv.done")), false, "the marker is removed");
  });

  test("a trailer padded to the full width is known by its record type, not taken for a customer; its count is checked", async () => {
    const records = { type_field: 1, trailer: { type: "T", count_field: 2 } };
    p.writeFile("jobs/drops.yaml", folderJob(undefined, { source: { ...folderJob().source, format: { format: "csv", records } } }));
    p.reload();
    drop("with-trailer.csv", fieldTeamCsv([...rows(2), "T,000002,,"]));
    const result = await p.run("drops");
    const [file] = result.files!;
    assert.equal(file!.outcome, "applied", file!.reason ?? result.error?.message ?? "");
    assert.deepEqual(file!.report, { read: 2, accepted: 2, rejected: 0 });
    assert.equal(await p.store.knex("golden").where({ key: "T" }).first(), undefined, "no customer T");

    drop("short.csv", fieldTeamCsv([...rows(3, 10), "T,000002,,"]));
    const short = await p.run("drops");
    assert.equal(short.files?.[0]?.outcome, "failed");
    assert.match(short.files?.[0]?.reason ?? "", /short\.csv: the trailer on line 5 says the file holds 2 records; it holds 3: the file is incomplete or altered/);
    assert.equal((short.error as { code?: string } | undefined)?.code, "SOURCE_CSV_TRAILER_COUNT");
    assert.deepEqual(inFolder("failed"), ["short.csv", "short.csv.report.csv"]);
  });

  test("a file that changes while it is read is put back, nothing of it applied, and applied whole once complete", async () => {
    // A writer that keeps the file open and appends a row now and then, pausing longer than stable_for:
    // its appends follow the file wherever Ferry moves it.
    const writer = openSync(path.join(p.dir, "drop", "slow.csv"), "a");
    const row = (n: number) => `C${String(n).padStart(4, "0")},First${n},c${n}@field.example,\r\n`;
    try {
      writeSync(writer, fieldTeamCsv(rows(2)));
      const before = await p.tableCounts();
      let appended = false;
      const first = await p.run("drops", {
        // The first batch has been read: the file is in processing/, its read not finished. The writer writes.
        onProgress: () => {
          if (!appended) writeSync(writer, row(3));
          appended = true;
        },
      });
      assert.ok(appended, "the writer wrote while the file was read");
      const [file] = first.files!;
      assert.equal(file!.outcome, "returned", file!.reason ?? first.error?.message ?? "");
      assert.equal(file!.movedTo, path.join("drop", "slow.csv"));
      assert.match(file!.reason ?? "", /^slow\.csv changed while it was read \(\d+ bytes when taken, \d+ now\): nothing of it was applied; it is back in the folder, to be taken again once complete/);
      assert.equal((first.error as FerryError | undefined)?.code, "SOURCE_FILE_CHANGED");
      assert.deepEqual([inFolder("processing"), inFolder("archive"), inFolder("failed")], [[], [], []]);
      assert.ok(existsSync(path.join(p.dir, "drop", "slow.csv")), "back where it was dropped");
      const after = await p.tableCounts();
      assert.deepEqual({ ...after, runs: 0, files: 0 }, { ...before, runs: 0, files: 0 }, "nothing of it was applied");
      const ledger = await p.store.knex("files").select("name", "outcome", "run_id");
      assert.deepEqual(ledger, [{ name: "slow.csv", outcome: "returned", run_id: file!.runId }]);
      assert.equal((await p.runRow(file!.runId)).status, "failed");
      writeSync(writer, row(4) + row(5));
    } finally {
      closeSync(writer);
    }
    const second = await p.run("drops");
    const [file] = second.files!;
    assert.equal(file!.outcome, "applied", file!.reason ?? second.error?.message ?? "");
    assert.deepEqual(file!.report, { read: 5, accepted: 5, rejected: 0 });
    await p.deliver();
    assert.equal(p.emulator.records("contacts").length, 5, "every row the writer wrote");
  });

  test("a file that cannot be parsed because its writer is not done (a quote not closed yet) is put back, not failed", async () => {
    const writer = openSync(path.join(p.dir, "drop", "half.csv"), "a");
    try {
      writeSync(writer, `${fieldTeamCsv(rows(2))}C0003,"Thi`);
      let appended = false;
      const first = await p.run("drops", {
        onProgress: () => {
          if (!appended) writeSync(writer, "rd\",c3@field.example,\r\n");
          appended = true;
        },
      });
      assert.ok(appended);
      assert.equal(first.files?.[0]?.outcome, "returned", first.files?.[0]?.reason ?? "");
      assert.deepEqual(inFolder("failed"), []);
    } finally {
      closeSync(writer);
    }
    const second = await p.run("drops");
    assert.deepEqual(second.files?.[0]?.report, { read: 3, accepted: 3, rejected: 0 });
  });

  test("a dry run reads waiting files where they are and moves nothing", async () => {
    drop("plan.csv", fieldTeamCsv(rows(2)));
    const result = await p.run("drops", { dryRun: true });
    assert.equal(result.files?.[0]?.counts.changed, 2);
    assert.deepEqual(readdirSync(path.join(p.dir, "drop")).filter((n) => n.endsWith(".csv")), ["plan.csv"]);
    assert.deepEqual(inFolder("archive"), []);
  });
});
