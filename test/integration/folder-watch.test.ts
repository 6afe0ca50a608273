/**
 * `ferry serve` on a watched folder: files present at start-up, written slowly in pieces, and renamed in
 * are each applied once, complete, without anyone running the job.
 */
import assert from "node:assert/strict";
import { appendFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { silentLogger } from "../../src/log.ts";
import type { RunResult } from "../../src/runner/run-job.ts";
import { type Service, startService } from "../../src/service/service.ts";
import { customerMapping, fieldTeamCsv } from "../support/customers.ts";
import { createTestProject, type TestProject } from "../support/project.ts";

let p: TestProject;
let service: Service | undefined;
const results: RunResult[] = [];

const rows = (n: number, from: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `C${String(from + i).padStart(4, "0")}`, first: `F${from + i}`, email: `c${from + i}@x.example` }));

async function until<T>(what: string, deadlineMs: number, probe: () => T | undefined): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const applied = () => results.flatMap((r) => r.files ?? []).filter((f) => f.outcome === "applied");

before(async () => {
  p = await createTestProject({
    backend: "sqlite",
    mappings: { customer: customerMapping({ fieldTeam: true }) },
    jobs: {
      drops: {
        source: { type: "folder", path: "drop", pattern: "*.csv", format: { format: "csv" }, ready: { stable_for: "300ms" } },
        mapping: "customer",
        as: "field_team",
        mode: "snapshot",
        deletes: { policy: "ignore" },
      },
    },
    files: { "drop/present.csv": fieldTeamCsv(rows(3, 1)) },
  });
  service = await startService({
    project: p.project,
    store: p.store,
    destinations: new Map(),
    log: silentLogger,
    deliveryIntervalMs: 60_000,
    watchDebounceMs: 50,
    onRun: (r) => results.push(r),
  });
});

after(async () => {
  await service?.stop();
  await p.cleanup();
});

test("a file present at start-up is applied", async () => {
  const files = await until("present.csv applied", 10_000, () => (applied().some((f) => f.name === "present.csv") ? applied() : undefined));
  assert.equal(files.find((f) => f.name === "present.csv")?.counts.changed, 3);
});

test("a file written slowly, in pieces, is applied once, whole", async () => {
  const file = path.join(p.dir, "drop", "slow.csv");
  const text = fieldTeamCsv(rows(40, 100));
  const pieces = 8;
  const size = Math.ceil(text.length / pieces);
  writeFileSync(file, "");
  for (let i = 0; i < pieces; i++) {
    appendFileSync(file, text.slice(i * size, (i + 1) * size));
    await sleep(100);
  }
  const slow = await until("slow.csv applied", 10_000, () => applied().find((f) => f.name === "slow.csv"));
  assert.equal(slow.counts.read, 40, "read complete, not a prefix");
  assert.equal(applied().filter((f) => f.name === "slow.csv").length, 1);
  assert.ok(results.flatMap((r) => r.files ?? []).every((f) => f.outcome !== "failed" && f.outcome !== "partial"));
});

test("a file renamed into the folder is applied", async () => {
  const outside = path.join(p.dir, "staging.csv");
  writeFileSync(outside, fieldTeamCsv(rows(2, 500)));
  renameSync(outside, path.join(p.dir, "drop", "renamed.csv"));
  const renamed = await until("renamed.csv applied", 10_000, () => applied().find((f) => f.name === "renamed.csv"));
  assert.equal(renamed.counts.changed, 2);
  const day = new Date().toISOString().slice(0, 10);
  assert.deepEqual(
    readdirSync(path.join(p.dir, "drop", "archive", day)).filter((n) => !n.endsWith(".report.csv")),
    ["present.csv", "renamed.csv", "slow.csv"],
  );
});
