/**
 * History retention: a year of nightly runs pruned down to what `retention:` keeps, each job's last run
 * kept, nothing the next run or delivery needs touched; `ferry prune --dry-run` counts without deleting, and
 * `ferry runs --stats` shows the state's size.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { prune } from "../../src/operate/prune.ts";
import { ferry } from "../cli/project.ts";
import { customerMapping, customers, customerTable, erpSnapshotJob } from "../support/customers.ts";
import { assertStatus, createTestProject, type TestProject } from "../support/project.ts";

const DAY = 86_400_000;
const NOW = new Date("2030-06-01T03:00:00.000Z");
const daysAgo = (n: number) => new Date(NOW.valueOf() - n * DAY).toISOString();

describe("history retention", () => {
  let p: TestProject;
  before(async () => {
    p = await createTestProject({
      backend: "sqlite",
      legacy: { CUSTOMERS: customerTable(customers(5)) },
      mappings: { customer: customerMapping() },
      jobs: { erp: erpSnapshotJob() },
    });
    assertStatus(await p.run("erp"));
    await p.deliver();
    // A year of nightly runs before it, each with a rejected row and a log line.
    const db = p.store.knex;
    for (let d = 365; d >= 1; d--) {
      const [row] = await db("runs").insert({ job: "erp", mode: "snapshot", status: "succeeded", started_at: daysAgo(d), finished_at: daysAgo(d) }, ["id"]);
      const id = Number(typeof row === "object" ? (row as { id: number }).id : row);
      await db("run_rejects").insert({ run_id: id, line: 2, key: "K", code: "DATA_INVALID", reason: "r" });
      await db("run_logs").insert({ run_id: id, at: daysAgo(d), level: 30, msg: "run finished", fields: null });
      await db("audit_log").insert({ at: daysAgo(d * 1.5), actor: "cli:test", action: "conflict.resolve" });
    }
    await db("outbox").update({ updated_at: daysAgo(40) });
  });
  after(() => p?.cleanup());

  it("counts with --dry-run and deletes nothing", async () => {
    const out = await ferry(p.dir, ["--json", "prune", "--dry-run"], { HUBSPOT_BASE_URL: p.emulator.url, HUBSPOT_TOKEN: "x" });
    assert.equal(out.code, 0, out.stderr);
    const report = JSON.parse(out.stdout) as { dryRun: boolean; deleted: Record<string, number> };
    assert.equal(report.dryRun, true);
    assert.equal(((await p.store.knex("runs").count({ n: "*" })) as { n: number }[])[0]!.n, 366, "nothing deleted");
  });

  it("keeps 180 days of runs, 90 of rejects, 30 of delivered rows, a year of audit; each job's last run always", async () => {
    const pruned = await prune(p.project, p.store, NOW);
    const count = async (table: string) => Number(((await p.store.knex(table).count({ n: "*" })) as { n: number }[])[0]!.n);
    // The nights of the last 180 days stay (the first real run, from before them all, goes); so do their log lines.
    assert.equal(await count("runs"), 180);
    assert.equal(pruned.runs, 366 - 180);
    assert.equal(await count("run_rejects"), 90, "rejects of the last 90 days");
    assert.equal(await count("run_logs"), 180);
    assert.equal(pruned.outbox, 5, "delivered rows older than 30 days");
    assert.ok((await count("audit_log")) > 0 && (await p.store.knex("audit_log").where("at", "<", daysAgo(365)).first()) === undefined);
    assert.equal(await count("golden"), 5, "golden records are never pruned");
    // Pruning again finds nothing more.
    const again = await prune(p.project, p.store, NOW);
    assert.deepEqual(Object.values(again).every((n) => n === 0), true);
    // Ten years on, the job's last run still stays.
    await prune(p.project, p.store, new Date(NOW.valueOf() + 3650 * DAY));
    assert.equal(await count("runs"), 1, "the job's last run");
  });

  it("ferry runs --stats shows the state's size and its tables", async () => {
    const out = await ferry(p.dir, ["runs", "--stats"], { HUBSPOT_BASE_URL: p.emulator.url, HUBSPOT_TOKEN: "x" });
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^state store: sqlite .+, \d+\.\d MiB$/m);
    assert.match(out.stdout, /runs/);
  });
});
