/**
 * Several `ferry serve` workers on one PostgreSQL state store, as real processes, into the HubSpot emulator
 * with its uniqueness check off (a record created twice shows as two records, and two creates in the
 * ledger): each schedule occurrence runs once across the cluster; every record is created, updated and
 * deleted once; HubSpot's rate limit holds for the cluster; and with the worker holding a run killed by
 * SIGKILL, again and again, another takes the run over and nothing is lost or sent twice.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import knexFactory, { type Knex } from "knex";
import { PgBoss } from "pg-boss";
import { type HubSpotEmulator, startHubSpotEmulator } from "../../fixtures/hubspot-emulator/emulator.ts";
import {
  CLI,
  childEnv,
  type CliProject,
  createCliProject,
  exited,
  FERRY_YAML,
  ferry,
  LEGACY_JOB,
  shown,
  TOKEN,
} from "../cli/project.ts";
import { createTestDatabase, pgSkip, type TestDatabase } from "../support/pg.ts";

const skip = await pgSkip();

/** Polls `check` until it returns something other than undefined; fails past the deadline, saying what it waited for. */
async function until<T>(what: string, deadlineMs: number, check: () => Promise<T | undefined>, everyMs = 200): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) assert.fail(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

interface Worker {
  id: string;
  child: ChildProcess;
  output: string[];
}

interface RunRow {
  id: number;
  status: string;
  started_at: string;
  finished_at: string | null;
  error: string | null;
}

/** A project on a PostgreSQL state store of its own, its legacy table of `count` customers, and its workers. */
class Cluster {
  readonly workers: Worker[] = [];
  #n = 0;
  readonly project: CliProject;
  readonly database: TestDatabase;
  readonly state: Knex;
  readonly emulator: HubSpotEmulator;
  constructor(project: CliProject, database: TestDatabase, state: Knex, emulator: HubSpotEmulator) {
    this.project = project;
    this.database = database;
    this.state = state;
    this.emulator = emulator;
  }

  static async create(options: { customers: number; rateLimit: number; schedule?: string }): Promise<Cluster> {
    const database = await createTestDatabase();
    const emulator = await startHubSpotEmulator({
      token: TOKEN,
      uniqueProperties: { contacts: ["customer_no"] },
      enforceUnique: false,
      rateLimit: { requests: options.rateLimit, perMs: 1_000 },
      logBodies: false,
    });
    const project = createCliProject({ customers: options.customers });
    const yaml = FERRY_YAML.replace("state:\n  path: .ferry/state.db", `state:\n  url: ${database.url}`)
      .replace("rate_limit: null", `rate_limit: { requests: ${options.rateLimit}, per_seconds: 1 }`)
      .replace("max_attempts: 2", "max_attempts: 5");
    project.write(
      "ferry.yaml",
      `${yaml}run_lease:\n  expiry: 3s\nserve:\n  poll: 500ms\n  schedule_check: 1s\n  delivery_every: 1s\n`,
    );
    const schedule = options.schedule ? `schedule: "${options.schedule}"\n` : "";
    project.write("jobs/legacy.yaml", `${LEGACY_JOB}${schedule}batch_size: 100\n`);
    project.write("jobs/field.yaml", "source:\n  type: csv\n  path: field.csv\nmapping: customer\nas: field\ndeletes:\n  policy: ignore\n");
    const state = knexFactory({ client: "pg", connection: database.url, pool: { min: 0, max: 2 } });
    return new Cluster(project, database, state, emulator);
  }

  start(): Worker {
    const id = `w${++this.#n}`;
    const env = childEnv({ HUBSPOT_BASE_URL: this.emulator.url, HUBSPOT_TOKEN: TOKEN, FERRY_LOG_LEVEL: "info" });
    const child = spawn(process.execPath, [CLI, "--config", this.project.dir, "serve", "--worker-id", id], {
      cwd: this.project.dir,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const worker = { id, child, output: [] as string[] };
    child.stdout!.setEncoding("utf8").on("data", (s: string) => worker.output.push(s));
    child.stderr!.setEncoding("utf8").on("data", (s: string) => worker.output.push(s));
    this.workers.push(worker);
    return worker;
  }

  /** Started: its banner printed, so its queue is open. */
  async started(worker: Worker): Promise<void> {
    await until(`worker ${worker.id} to start`, 60_000, async () => (worker.output.join("").includes("ferry serve: worker") ? true : undefined));
  }

  live(): Worker[] {
    return this.workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
  }

  async runs(): Promise<RunRow[]> {
    return (await this.state("runs").where({ job: "legacy" }).orderBy("id")) as RunRow[];
  }

  async pending(): Promise<number> {
    const row = (await this.state("outbox").whereIn("status", ["pending", "in_flight"]).count({ n: "*" }).first()) as { n: string };
    return Number(row.n);
  }

  /** The cluster has nothing left to do: no run running, nothing pending. */
  async settled(what: string, deadlineMs = 120_000): Promise<RunRow[]> {
    return until(what, deadlineMs, async () => {
      const runs = await this.runs();
      if (runs.some((r) => r.status === "running")) return undefined;
      return (await this.pending()) === 0 ? runs : undefined;
    });
  }

  /** HubSpot holds exactly the legacy table: every customer once, with its name; no other record. */
  assertMirrors(legacy: Map<string, string>) {
    const live = this.emulator.records("contacts");
    const byNo = new Map<string, string>();
    for (const r of live) {
      const no = String(r.properties.customer_no);
      assert.ok(!byNo.has(no), `customer ${no} is in HubSpot twice`);
      byNo.set(no, String(r.properties.firstname));
    }
    assert.equal(byNo.size, legacy.size, "HubSpot holds as many live records as the legacy table");
    for (const [no, name] of legacy) assert.equal(byNo.get(no), name, `customer ${no} in HubSpot`);
    assert.deepEqual(this.emulator.ledger.duplicateCreates("contacts"), [], "no record created twice");
  }

  async stop() {
    await Promise.all(
      this.live().map(async (w) => {
        w.child.kill("SIGTERM");
        await exited(w.child, 90_000, `worker ${w.id}`).catch(() => w.child.kill("SIGKILL"));
      }),
    );
    await this.state.destroy();
    await this.emulator.close();
    await this.database.drop();
    this.project.cleanup();
  }
}

/** The legacy table as HubSpot should hold it: name by customer number. */
function legacyNames(count: number, renamed: ReadonlySet<number>, deleted: ReadonlySet<number>) {
  const out = new Map<string, string>();
  for (let i = 1; i <= count; i++) {
    if (deleted.has(i)) continue;
    out.set(`K${i}`, renamed.has(i) ? `Renamed ${i}` : `Name ${i}`);
  }
  return out;
}

/** The largest number of requests the emulator saw start within any window of `windowMs`. */
function busiestWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let from = 0;
  for (let to = 0; to < sorted.length; to++) {
    while (sorted[to]! - sorted[from]! >= windowMs) from++;
    most = Math.max(most, to - from + 1);
  }
  return most;
}

describe("several workers on one PostgreSQL state", { skip, timeout: 10 * 60_000 }, () => {
  describe("three workers, a job scheduled every minute", () => {
    const COUNT = 2_000;
    const RATE = 20;
    let cluster: Cluster;
    before(async () => {
      cluster = await Cluster.create({ customers: COUNT, rateLimit: RATE, schedule: "* * * * *" });
      const workers = [cluster.start(), cluster.start(), cluster.start()];
      for (const w of workers) await cluster.started(w);
    });
    after(() => cluster?.stop());

    it("ferry workers lists the three, live, with their heartbeats", async () => {
      const out = await ferry(cluster.project.dir, ["--json", "workers"], { HUBSPOT_BASE_URL: cluster.emulator.url, HUBSPOT_TOKEN: TOKEN });
      assert.equal(out.code, 0, shown(out));
      const report = JSON.parse(out.stdout) as { workers: { worker: string; state: string; pid: number; heartbeat_at: string }[] };
      const live = report.workers.filter((w) => w.state === "live");
      assert.deepEqual(live.map((w) => w.worker).sort(), ["w1", "w2", "w3"]);
      for (const w of live) assert.ok(cluster.workers.some((x) => x.child.pid === w.pid), `worker ${w.worker}'s pid`);
    });

    it("runs each occurrence once, creates, updates and deletes each record once, within the rate limit", { timeout: 5 * 60_000 }, async () => {
      // The occurrence of the minute the workers started in: the first sync (the next minute's may follow).
      await until("the first run and its delivery", 150_000, async () => {
        const runs = await cluster.runs();
        const quiet = runs.length > 0 && runs.every((r) => r.status === "succeeded");
        return quiet && (await cluster.pending()) === 0 ? runs : undefined;
      });
      cluster.assertMirrors(legacyNames(COUNT, new Set(), new Set()));

      // 5% renamed, 1% deleted, for the next occurrence.
      const renamed = new Set(Array.from({ length: COUNT / 20 }, (_, i) => i * 20 + 3));
      const deleted = new Set(Array.from({ length: COUNT / 100 }, (_, i) => i * 100 + 7));
      for (const i of renamed) cluster.project.legacy("UPDATE CUSTOMERS SET NAME = ? WHERE ID = ?", `Renamed ${i}`, `K${i}`);
      for (const i of deleted) cluster.project.legacy("DELETE FROM CUSTOMERS WHERE ID = ?", `K${i}`);
      const changedAt = new Date().toISOString();
      const runs = await until("a later occurrence's run and its delivery", 150_000, async () => {
        const all = await cluster.runs();
        const later = all.some((r) => r.started_at > changedAt);
        return later && all.every((r) => r.status === "succeeded") && (await cluster.pending()) === 0 ? all : undefined;
      });

      // One run per occurrence: never two at once, and no more runs than minutes they span.
      for (let i = 1; i < runs.length; i++) {
        assert.ok(runs[i]!.started_at >= runs[i - 1]!.finished_at!, `run ${runs[i]!.id} started before run ${runs[i - 1]!.id} finished`);
      }
      const minute = (r: RunRow) => Math.floor(Date.parse(r.started_at) / 60_000);
      const spanned = minute(runs.at(-1)!) - minute(runs[0]!) + 1;
      assert.ok(runs.length <= spanned, `${runs.length} runs over ${spanned} minute(s): ${runs.map((r) => r.started_at).join(", ")}`);
      cluster.assertMirrors(legacyNames(COUNT, renamed, deleted));
      const ledger = cluster.emulator.ledger;
      assert.equal(ledger.of("contacts", "create").length, COUNT, "every record created once");
      assert.equal(ledger.of("contacts", "update").length, renamed.size, "every rename applied once");
      assert.equal(ledger.of("contacts", "delete").length, deleted.size, "every delete applied once");

      // The cluster kept to HubSpot's limit: no request refused, none over the limit in any second.
      const requests = cluster.emulator.requests.filter((r) => r.path.startsWith("/crm/"));
      assert.equal(requests.filter((r) => r.status === 429).length, 0, "no request over the rate limit");
      assert.ok(busiestWindow(requests.map((r) => r.at), 1_000) <= RATE, `at most ${RATE} requests in any second`);
      // Each run was done by one worker: the workers' logs together hold one "run finished" per run.
      const finished = cluster.workers.flatMap((w) => w.output.join("").split("\n").filter((l) => l.includes("\"msg\":\"run finished\"")));
      assert.equal(finished.length, runs.length, "one worker finished each run");
    });
  });

  describe("the worker holding a run killed with SIGKILL, again and again", () => {
    const COUNT = 6_000;
    const KILLS = 3;
    let cluster: Cluster;
    let boss: PgBoss;
    before(async () => {
      cluster = await Cluster.create({ customers: COUNT, rateLimit: 100 });
      const workers = [cluster.start(), cluster.start(), cluster.start()];
      for (const w of workers) await cluster.started(w);
      // Runs asked for as a trigger asks: a request in the cluster's run queue.
      boss = new PgBoss({ connectionString: cluster.database.url, schema: "pgboss", schedule: false, supervise: false, registerInstance: false, migrate: false });
      boss.on("error", () => {});
      await boss.start();
    });
    after(async () => {
      await boss?.stop({ graceful: false, close: true });
      await cluster?.stop();
    });

    it("another worker takes each run over: nothing lost, nothing sent twice, no run left running", { timeout: 8 * 60_000 }, async (t) => {
      const renamed = new Set<number>();
      const deleted = new Set<number>();
      // The first sync, undisturbed.
      await boss.send("ferry-runs", { job: "legacy", reason: "trigger" }, { singletonKey: "legacy" });
      await until("the first sync", 120_000, async () => ((await cluster.runs()).length > 0 ? true : undefined));
      await cluster.settled("the first sync and its delivery");
      cluster.assertMirrors(legacyNames(COUNT, renamed, deleted));
      let killedRuns = 0;
      for (let kill = 1; kill <= KILLS; kill++) {
        // Work for the run: a fifth of the customers renamed (so the run spans many batches), a few deleted.
        for (let i = kill; i <= COUNT; i += 5) {
          if (deleted.has(i)) continue;
          renamed.add(i);
          cluster.project.legacy("UPDATE CUSTOMERS SET NAME = ? WHERE ID = ?", `Renamed ${i}`, `K${i}`);
        }
        const gone = kill * 11;
        deleted.add(gone);
        renamed.delete(gone);
        cluster.project.legacy("DELETE FROM CUSTOMERS WHERE ID = ?", `K${gone}`);
        const before = (await cluster.runs()).length;
        await boss.send("ferry-runs", { job: "legacy", reason: "trigger" }, { singletonKey: "legacy" });

        // The run's holder, at a random moment of its run.
        const holder = await until(`run ${kill} to start`, 60_000, async () => {
          const lease = (await cluster.state("leases").where({ name: "run:legacy" }).first()) as { worker: string } | undefined;
          const running = (await cluster.runs()).slice(before).some((r) => r.status === "running");
          return lease && running ? lease.worker : undefined;
        }, 20);
        await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 400)));
        const victim = cluster.live().find((w) => w.id === holder);
        assert.ok(victim, `worker ${holder} is one of the cluster's`);
        victim.child.kill("SIGKILL");
        const killedAt = Date.now();
        await exited(victim.child, 10_000, `worker ${victim.id}`);
        await cluster.started(cluster.start());

        const runs = await cluster.settled(`the run after kill ${kill} to be taken over and delivered`, 180_000);
        const abandoned = runs.filter((r) => r.status === "abandoned");
        for (const r of abandoned) assert.match(r.error ?? "", /^worker w\d+ \(process \d+ on host .+\) stopped without finishing this run/);
        killedRuns = abandoned.length;
        cluster.assertMirrors(legacyNames(COUNT, renamed, deleted));
        const seconds = ((Date.now() - killedAt) / 1000).toFixed(1);
        t.diagnostic(`kill ${kill}: worker ${holder} killed mid-run; taken over and delivered within ${seconds} s; duplicates 0`);
      }
      const runs = await cluster.runs();
      assert.equal(runs.filter((r) => r.status === "running").length, 0, "no run left running");
      assert.ok(killedRuns >= 1, `a killed run was marked abandoned and taken over: ${JSON.stringify(runs.map((r) => r.status))}`);
      assert.equal(cluster.emulator.ledger.of("contacts", "create").length, COUNT, "every record created once");
      assert.equal(cluster.emulator.ledger.of("contacts", "delete").length, KILLS, "every delete applied once");
      t.diagnostic(`runs: ${runs.map((r) => r.status).join(", ")}`);
    });

    it("a worker stopped with SIGTERM mid-run ends its batch, exits 0, and hands the run back to another at once", { timeout: 4 * 60_000 }, async (t) => {
      for (let i = 2; i <= COUNT; i += 3) cluster.project.legacy("UPDATE CUSTOMERS SET NAME = ? WHERE ID = ?", `Stopped ${i}`, `K${i}`);
      const before = (await cluster.runs()).length;
      await boss.send("ferry-runs", { job: "legacy", reason: "trigger" }, { singletonKey: "legacy" });
      const holder = await until("the run to start", 60_000, async () => {
        const lease = (await cluster.state("leases").where({ name: "run:legacy" }).first()) as { worker: string } | undefined;
        const running = (await cluster.runs()).slice(before).some((r) => r.status === "running");
        return lease && running ? lease.worker : undefined;
      }, 20);
      const worker = cluster.live().find((w) => w.id === holder)!;
      worker.child.kill("SIGTERM");
      assert.equal(await exited(worker.child, 60_000, `worker ${worker.id}`), 0, worker.output.join(""));
      const after = await until("the handed-back run to be finished by another worker", 60_000, async () => {
        const runs = (await cluster.runs()).slice(before);
        return runs.at(-1)?.status === "succeeded" && (await cluster.pending()) === 0 ? runs : undefined;
      });
      assert.match(after[0]!.error ?? "", /^RUN_INTERRUPTED: the run was interrupted \(ferry is stopping\)/, "the stopped worker ended its run");
      assert.ok(after.length >= 1 && after.every((r) => r.status !== "running"));
      t.diagnostic(`runs after the SIGTERM: ${after.map((r) => `${r.status}${r.error ? ` (${r.error.slice(0, 80)})` : ""}`).join(", ")}`);
      const names = new Map<string, string>();
      for (const r of cluster.emulator.records("contacts")) names.set(String(r.properties.customer_no), String(r.properties.firstname));
      for (let i = 2; i <= COUNT; i += 3) {
        if (names.has(`K${i}`)) assert.equal(names.get(`K${i}`), `Stopped ${i}`, `K${i}`);
      }
      assert.deepEqual(cluster.emulator.ledger.duplicateCreates("contacts"), []);
    });
  });
});
