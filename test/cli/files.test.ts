/**
 * A folder job from the command line: `ferry run` prints a line per file taken, `ferry plan` moves
 * nothing, and `ferry runs` lists the files taken with what became of them.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { startHubSpotEmulator } from "../../fixtures/hubspot-emulator/emulator.ts";
import { type CliProject, createCliProject, FIELD_CSV, ferry, shown, TOKEN } from "./project.ts";

const DROPS_JOB = `source:
  type: folder
  path: drop
  pattern: "*.csv"
  ready: { stable_for: 50ms }
  format: { format: csv }
mapping: customer
as: field
deletes: { policy: ignore }
`;

/** Each file is the full list: deletes are detected from it, so each_file defaults to full_list. */
const LISTS_JOB = `source:
  type: folder
  path: lists
  ready: { stable_for: 50ms }
  format: { format: csv }
mapping: customer
as: field
deletes: { policy: propagate, max_share: 0.5 }
`;

/** Files of changes, delivered to the emulator. */
const BATCH_JOB = DROPS_JOB.replace("path: drop", "path: batch");

const list = (...keys: string[]) => ["Customer #,E-mail,Phone", ...keys.map((k) => `${k},${k.toLowerCase()}@field.example,+1 555 0000`), ""].join("\n");

let project: CliProject;
const env = { HUBSPOT_BASE_URL: "http://127.0.0.1:9", HUBSPOT_TOKEN: "test-token" };

before(() => {
  project = createCliProject({
    files: { "jobs/drops.yaml": DROPS_JOB, "drop/field.csv": FIELD_CSV, "jobs/lists.yaml": LISTS_JOB, "lists/.keep": "", "jobs/batch.yaml": BATCH_JOB, "batch/.keep": "" },
  });
});
after(() => project.cleanup());

test("plan reads the waiting file and moves nothing; run takes it and prints where it went", async () => {
  const plan = await ferry(project.dir, ["plan", "drops"], env);
  assert.ok([0, 1].includes(plan.code ?? -1), shown(plan));
  assert.ok(existsSync(path.join(project.dir, "drop", "field.csv")), "still waiting after plan");

  const run = await ferry(project.dir, ["run", "drops", "--no-deliver"], env);
  assert.equal(run.code, 1, shown(run));
  const day = new Date().toISOString().slice(0, 10);
  assert.match(
    run.stdout,
    new RegExp(`file field\\.csv: partial \\(run \\d+\\), 3 lines: accepted 2, rejected 1 -> drop/archive/${day}/field\\.csv \\(\\+ \\.report\\.csv\\)`),
  );
  assert.deepEqual(readdirSync(path.join(project.dir, "drop", "archive", day)).sort(), ["field.csv", "field.csv.report.csv"]);

  const again = await ferry(project.dir, ["run", "drops", "--no-deliver"], env);
  assert.equal(again.code, 0, shown(again));
  assert.match(again.stdout, /no file waiting/);
});

test("runs lists the files taken, and a run names its file", async () => {
  const runs = await ferry(project.dir, ["--json", "runs", "--job", "drops"], env);
  assert.equal(runs.code, 0, shown(runs));
  const out = JSON.parse(runs.stdout) as { files: { name: string; outcome: string; runId: number }[] };
  assert.deepEqual(out.files.map((f) => [f.name, f.outcome]), [["field.csv", "partial"]]);
  const one = await ferry(project.dir, ["runs", String(out.files[0]!.runId)], env);
  assert.match(one.stdout, /file: field\.csv \(partial, sha256 [0-9a-f]{12}…\)/);
  assert.match(one.stdout, /4 {5}K3 {3}DATA_BAD_VALUE {2}email \(E-mail\)/);
});

test("full lists: run says why an older list is applied again, and runs shows each file's fate", async () => {
  const drop = async (name: string, text: string) => {
    writeFileSync(path.join(project.dir, "lists", name), text);
    const run = await ferry(project.dir, ["run", "lists", "--no-deliver"], env);
    assert.equal(run.code, 0, shown(run));
    return run.stdout;
  };
  await drop("mon.csv", list("K1", "K2"));
  await drop("tue.csv", list("K1"));
  const wed = await drop("wed.csv", list("K1", "K2"));
  assert.match(wed, /file wed\.csv: applied \(run \d+\), 2 lines: accepted 2, rejected 0 -> lists\/archive\//);
  assert.match(wed, /\n {4}the same content as mon\.csv \(run \d+\), superseded by tue\.csv \(run \d+\): applied again/);
  const thu = await drop("thu.csv", list("K1", "K2"));
  assert.match(thu, /file thu\.csv: duplicate, .*\n {4}the same content as wed\.csv, the last file applied \(run \d+ on .*\): nothing/);

  const runs = await ferry(project.dir, ["--json", "runs", "--job", "lists"], env);
  const out = JSON.parse(runs.stdout) as { files: { name: string; outcome: string; reason: string | null }[] };
  assert.deepEqual(
    out.files.map((f) => [f.name, f.outcome, f.reason?.replace(/ \(run \d+.*$|, superseded.*$|, the last.*$/, "") ?? null]),
    [
      ["thu.csv", "duplicate", "the same content as wed.csv"],
      ["wed.csv", "applied", "the same content as mon.csv"],
      ["tue.csv", "applied", null],
      ["mon.csv", "applied", null],
    ],
  );
});

test("a file that fails holds back none applied before it: each is delivered and summed up on its own, the exit code the worst", async () => {
  const emulator = await startHubSpotEmulator({ token: TOKEN, uniqueProperties: { contacts: ["customer_no"] } });
  try {
    const live = { HUBSPOT_BASE_URL: emulator.url, HUBSPOT_TOKEN: TOKEN };
    const drop = (name: string, text: string) => writeFileSync(path.join(project.dir, "batch", name), text);
    const broken = `${list("K20")}K21,"unclosed,k21@field.example,+1 555 0000\n`;
    drop("a.csv", list("K10", "K11"));
    drop("b.csv", broken);
    const run = await ferry(project.dir, ["run", "batch"], live);
    assert.equal(run.code, 3, shown(run));
    // Each file under its own run's line, with its own counts and error: nothing summed across them.
    const applied = new RegExp(
      String.raw`^run (\d+) of batch: succeeded\. read 2 = unchanged 0 \+ changed 2 \+ rejected 0 \+ filtered 0.*\n {2}`
      + String.raw`file a\.csv: applied \(run \1\), 2 lines`,
      "m",
    );
    assert.match(run.stdout, applied);
    const failed = new RegExp(
      String.raw`^run (\d+) of batch: failed\. read \d+ = .*\n {2}file b\.csv: failed \(run \1\), .*\n {2}`
      + String.raw`error: b\.csv: line 3: .*\[SOURCE_CSV_UNPARSABLE\]$`,
      "m",
    );
    assert.match(run.stdout, failed);
    assert.match(run.stdout, /^2 files: 1 applied, 1 failed$/m);
    // The outbox also holds what the earlier runs of this project (--no-deliver) left: sent along.
    assert.match(run.stdout, /^delivery to hubspot: created \d+, updated 0, deleted 0, failed 0, still pending 0$/m);
    const delivered = () => emulator.records("contacts").map((r) => String(r.properties.customer_no)).filter((k) => /^K1\d$/.test(k)).sort();
    assert.deepEqual(delivered(), ["K10", "K11"], "a.csv is delivered by the run that applied it");

    drop("c.csv", list("K12"));
    drop("d.csv", broken);
    const json = await ferry(project.dir, ["--json", "run", "batch"], live);
    assert.equal(json.code, 3, shown(json));
    const out = JSON.parse(json.stdout) as {
      status: string;
      files: { name: string; outcome: string; status?: string; errorCode?: string; runId: number | null }[];
      delivery: Record<string, { created: number }>;
    };
    assert.deepEqual(
      out.files.map((f) => [f.name, f.outcome, f.status, f.errorCode]),
      [["c.csv", "applied", "succeeded", undefined], ["d.csv", "failed", "failed", "SOURCE_CSV_UNPARSABLE"]],
    );
    assert.equal(out.delivery.hubspot?.created, 1, "only c.csv was left to deliver");
    assert.deepEqual(delivered(), ["K10", "K11", "K12"]);
  } finally {
    await emulator.close();
  }
});
