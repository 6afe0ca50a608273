/**
 * Two runs of one job: `ferry run` takes the job's run lease in the state store. A second run while it is
 * held exits 6 and says which process runs the job (or, with --wait-for-run, waits for it); a lease whose holder
 * stopped heartbeating is taken over; the lease is released when the run ends, also on SIGTERM. Two
 * `ferry run` started at once on a new state store, on SQLite and on PostgreSQL, neither fail on the
 * migrations nor count the same records twice.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { type HubSpotEmulator, startHubSpotEmulator } from "../../fixtures/hubspot-emulator/emulator.ts";
import { acquireLease, getLease, type LeaseHolder, releaseLease } from "../../src/state/leases.repo.ts";
import type { RunRow } from "../../src/state/runs.repo.ts";
import { openStateStore, type StateStore } from "../../src/state/store.ts";
import { createTestDatabase, pgSkip, type TestDatabase } from "../support/pg.ts";
import {
  CLI,
  type CliProject,
  type CliResult,
  childEnv,
  createCliProject,
  exited,
  FERRY_YAML,
  ferry,
  LEGACY_JOB,
  shown,
  TOKEN,
} from "./project.ts";

const CUSTOMERS = 3000;
/** A run of the job in another process, on another host. */
const ELSEWHERE: LeaseHolder = { holder: "run-elsewhere", worker: "worker-7", pid: 4242, host: "worker-7.example" };

function expectExit(r: CliResult, code: number) {
  assert.equal(r.code, code, shown(r));
}

const skipPostgres = await pgSkip();

describe("two ferry run of one job at once, on a new state store", { concurrency: true }, () => {
  for (const backend of ["sqlite", "postgres"] as const) {
    describe(backend, { skip: backend === "postgres" ? skipPostgres : false }, () => {
      let project: CliProject;
      let emulator: HubSpotEmulator;
      let database: TestDatabase | undefined;
      let env: Record<string, string>;
      before(async () => {
        project = createCliProject({ customers: CUSTOMERS });
        emulator = await startHubSpotEmulator({ token: TOKEN, uniqueProperties: { contacts: ["customer_no"] } });
        env = { HUBSPOT_BASE_URL: emulator.url, HUBSPOT_TOKEN: TOKEN };
        if (backend === "postgres") {
          database = await createTestDatabase();
          project.write("ferry.yaml", FERRY_YAML.replace("  path: .ferry/state.db", "  url: ${env:FERRY_STATE_URL}"));
          env.FERRY_STATE_URL = database.url;
        }
      });
      after(async () => {
        await emulator.close();
        await database?.drop();
        project.cleanup();
      });

      test("one runs, the other is refused with exit 6 or runs after it; every record counted once", async () => {
        const both = await Promise.all([0, 1].map(() => ferry(project.dir, ["run", "legacy", "--no-deliver"], env)));
        for (const r of both) {
          assert.ok(r.code === 0 || r.code === 6, shown(r));
          assert.doesNotMatch(r.stderr, /already exists|database is locked|internal error/, shown(r));
          if (r.code === 6) assert.match(r.stderr, /job legacy is running in worker \S+ \(process \d+ on host .+\) since /, shown(r));
        }
        assert.ok(both.some((r) => r.code === 0), "one of them ran");

        const store = await openStateStore(
          database ? { url: database.url } : { path: project.stateFile },
          project.dir,
        );
        try {
          const runs = (await store.knex("runs").orderBy("id")) as RunRow[];
          assert.equal(runs.length, both.filter((r) => r.code === 0).length, "a run row for each run that ran");
          for (const r of runs) assert.equal(r.status, "succeeded", `run ${r.id}: ${r.error}`);
          assert.equal(runs.reduce((n, r) => n + Number(r.changed), 0), CUSTOMERS, "each record changed once");
          assert.equal(runs.reduce((n, r) => n + Number(r.deleted), 0), 0, "nothing deleted");
          const outbox = (await store.knex("outbox").count({ n: "*" }).first()) as { n: number | string };
          assert.equal(Number(outbox.n), CUSTOMERS, "one outbox row per record");
        } finally {
          await store.close();
        }
      });
    });
  }
});

describe("two jobs at once on one SQLite state file", () => {
  let project: CliProject;
  before(() => {
    project = createCliProject({ customers: CUSTOMERS });
    // Many small transactions beside one large one (a CSV file commits whole).
    project.write("jobs/legacy.yaml", `${LEGACY_JOB}batch_size: 20\n`);
    const rows = Array.from({ length: CUSTOMERS }, (_, i) => `K${i + 1},f${i + 1}@field.example,+1 999 ${i + 1}`);
    project.write("field.csv", ["Customer #,E-mail,Phone", ...rows, ""].join("\n"));
  });
  after(() => project.cleanup());

  test("both run: a transaction waits for the other process's instead of failing with database is locked", async () => {
    const env = { HUBSPOT_BASE_URL: "http://127.0.0.1:9", HUBSPOT_TOKEN: TOKEN };
    expectExit(await ferry(project.dir, ["run", "legacy", "--no-deliver"], env), 0);
    project.legacy("UPDATE CUSTOMERS SET NAME = NAME || ' (changed)'");
    const [legacy, field] = await Promise.all([
      ferry(project.dir, ["run", "legacy", "--no-deliver"], env),
      ferry(project.dir, ["run", "field", "--no-deliver"], env),
    ]);
    expectExit(legacy, 0);
    expectExit(field, 0);
    assert.match(legacy!.stdout, new RegExp(`: succeeded\\. read ${CUSTOMERS} = unchanged 0 \\+ changed ${CUSTOMERS} `));
    assert.match(field!.stdout, new RegExp(`: succeeded\\. read ${CUSTOMERS} `));
  });
});

describe("ferry run and the job's run lease", { concurrency: false }, () => {
  let project: CliProject;
  let emulator: HubSpotEmulator;
  let env: Record<string, string>;
  let store: StateStore;
  const runCount = async () => Number(((await store.knex("runs").count({ n: "*" }).first()) as { n: number }).n);
  before(async () => {
    project = createCliProject({ customers: CUSTOMERS });
    // Small batches: a run spans many transactions, so that a signal lands in the middle of it.
    project.write("jobs/legacy.yaml", `${LEGACY_JOB}batch_size: 20\n`);
    emulator = await startHubSpotEmulator({ token: TOKEN, uniqueProperties: { contacts: ["customer_no"] } });
    env = { HUBSPOT_BASE_URL: emulator.url, HUBSPOT_TOKEN: TOKEN };
    store = await openStateStore({ path: project.stateFile }, project.dir);
  });
  after(async () => {
    await store.close();
    await emulator.close();
    project.cleanup();
  });

  test("while another process holds it: exit 6, which process on which host since when; nothing run", async () => {
    const held = await acquireLease(store.knex, "run:legacy", ELSEWHERE, new Date(), 60_000);
    try {
      for (const args of [["run", "legacy"], ["--json", "run", "legacy"]]) {
        const r = await ferry(project.dir, args, env);
        expectExit(r, 6);
        if (args[0] === "--json") {
          const out = JSON.parse(r.stdout) as { error: { code: string; pid: number; host: string; since: string } };
          assert.deepEqual(
            [out.error.code, out.error.pid, out.error.host, out.error.since],
            ["RUN_LEASE_HELD", 4242, "worker-7.example", held.lease.acquired_at],
          );
        } else {
          assert.match(
            r.stderr,
            new RegExp(`^ferry: job legacy is running in worker worker-7 \\(process 4242 on host worker-7\\.example\\) since ${held.lease.acquired_at.replaceAll(".", "\\.")} .*--wait.*\\[RUN_LEASE_HELD\\]\\n$`),
            shown(r),
          );
        }
      }
      assert.equal(await runCount(), 0, "no run recorded");
      assert.equal((await getLease(store.knex, "run:legacy"))?.holder, ELSEWHERE.holder, "the lease left to its holder");
    } finally {
      await releaseLease(store.knex, "run:legacy", ELSEWHERE.holder);
    }
  });

  test("a lease left by a process that died is taken over once it expires", async () => {
    await acquireLease(store.knex, "run:legacy", ELSEWHERE, new Date(Date.now() - 120_000), 60_000);
    const r = await ferry(project.dir, ["run", "legacy", "--no-deliver"], env);
    expectExit(r, 0);
    assert.match(r.stdout, new RegExp(`: succeeded\\. read ${CUSTOMERS} `));
    assert.equal(await getLease(store.knex, "run:legacy"), undefined, "released at the end");
  });

  test("--wait waits for the run that holds the lease, then runs", async () => {
    await acquireLease(store.knex, "run:legacy", ELSEWHERE, new Date(), 60_000);
    const child = spawn(process.execPath, [CLI, "--config", project.dir, "run", "legacy", "--wait-for-run", "--no-deliver"], {
      cwd: project.dir,
      env: childEnv(env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out = { stdout: "", stderr: "" };
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out.stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (out.stderr += s));
    const exit = exited(child, 60_000, "ferry run --wait");
    await until("the waiting line", () => /waiting for it to end/.test(out.stderr) || undefined, exit);
    const waiting = /^ferry: job legacy is running in worker worker-7 \(process 4242 on host worker-7\.example\) since \S+; waiting for/;
    assert.match(out.stderr, waiting);
    const runsBefore = await runCount();
    await releaseLease(store.knex, "run:legacy", ELSEWHERE.holder);
    assert.equal(await exit, 0, `${out.stdout}\n${out.stderr}`);
    assert.match(out.stdout, /: succeeded\./);
    assert.equal(await runCount(), runsBefore + 1);
    assert.equal(await getLease(store.knex, "run:legacy"), undefined);
  });

  test("SIGTERM in the middle of a run: the run stops after its batch, exit 4, the lease released", async () => {
    project.legacy("UPDATE CUSTOMERS SET NAME = NAME || ' (changed)'");
    const child = spawn(process.execPath, [CLI, "--config", project.dir, "run", "legacy", "--no-deliver"], {
      cwd: project.dir,
      env: childEnv(env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out = { stdout: "", stderr: "" };
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out.stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (out.stderr += s));
    const exit = exited(child, 60_000, "ferry run");
    // A reader of its own (WAL): the run's first committed batch, under its lease.
    const reader = new Database(project.stateFile, { readonly: true });
    try {
      const inFlight = reader.prepare("SELECT id FROM runs WHERE status = 'running' AND read > 0");
      const lease = reader.prepare("SELECT pid FROM leases WHERE name = 'run:legacy'");
      await until("the run's first committed batch", () => inFlight.get() as { id: number } | undefined, exit);
      assert.equal((lease.get() as { pid: number } | undefined)?.pid, child.pid, "the run holds the lease");
    } finally {
      reader.close();
    }
    child.kill("SIGTERM");
    assert.equal(await exit, 4, `${out.stdout}\n${out.stderr}`);
    assert.match(out.stdout, /: failed\. .*\n\s+error: the run was interrupted .*\[RUN_INTERRUPTED\]/);
    assert.equal(await getLease(store.knex, "run:legacy"), undefined, "released");
  });
});

/**
 * Resolves with the first value `check` returns that is not undefined (polled); fails when `ended` (the
 * child's exit) comes first, or past the deadline.
 */
async function until<T>(what: string, check: () => T | undefined, ended: Promise<unknown>, deadlineMs = 60_000): Promise<T> {
  let done = false;
  void ended.finally(() => (done = true)).catch(() => {});
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (done) assert.fail(`the process ended before ${what}`);
    if (Date.now() > end) assert.fail(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
