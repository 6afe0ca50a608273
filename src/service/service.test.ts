/**
 * `ferry serve`: jobs run on their cron schedule, never two runs of one job at once, and a stop leaves no
 * run in flight and every run row finished. In process with `startService`, then as a child process.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import cron from "node-cron";
import { type HubSpotEmulator, startHubSpotEmulator } from "../../fixtures/hubspot-emulator/emulator.ts";
import {
  CLI,
  type CliProject,
  childEnv,
  createCliProject,
  exited,
  LEGACY_JOB,
  lineOf,
  TOKEN,
} from "../../test/cli/project.ts";
import { createDestinations } from "../cli/context.ts";
import { ConfigError } from "../errors.ts";
import { loadProject } from "../project.ts";
import { createLogger, silentLogger } from "../log.ts";
import type { RunResult } from "../runner/run-job.ts";
import { acquireLease, getLease, releaseLease } from "../state/leases.repo.ts";
import type { RunRow } from "../state/runs.repo.ts";
import { openStateStore, type StateStore } from "../state/store.ts";
import { type Service, startService } from "./service.ts";

const CUSTOMERS = 3000;
const BATCH = 50;
const EVERY_SECOND = "* * * * * *";

function scheduledProject(): CliProject {
  const project = createCliProject({ customers: CUSTOMERS });
  // Small batches, so that a run spans many transactions and a stop can land in the middle of one.
  project.write("jobs/legacy.yaml", `${LEGACY_JOB}schedule: "${EVERY_SECOND}"\nbatch_size: ${BATCH}\n`);
  return project;
}

/** Resolves with the first value `check` returns that is not undefined (polled); fails past the deadline. */
async function until<T>(
  what: string,
  deadlineMs: number,
  check: () => T | undefined | Promise<T | undefined>,
  everyMs = 20,
): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) assert.fail(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** `promise`, or a failure once the deadline has passed. */
async function within<T>(what: string, deadlineMs: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${deadlineMs} ms waiting for ${what}`)),
      deadlineMs,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every run finished, accounted for, and no two runs of the job overlapping in time. */
function assertConsistent(runs: RunRow[]) {
  assert.ok(runs.length > 0, "at least one run");
  for (const r of runs) {
    assert.notEqual(r.status, "running", `run ${r.id} still marked running`);
    assert.ok(r.finished_at, `run ${r.id} has no finish time`);
    assert.equal(r.read, r.unchanged + r.changed + r.rejected + r.filtered, `run ${r.id} accounting`);
  }
  const ordered = [...runs].sort((a, b) => a.id - b.id);
  for (let i = 1; i < ordered.length; i++) {
    const prev = ordered[i - 1]!;
    const next = ordered[i]!;
    assert.ok(
      next.started_at >= prev.finished_at!,
      `run ${next.id} started (${next.started_at}) before run ${prev.id} finished (${prev.finished_at})`,
    );
  }
}

describe("startService", () => {
  let project: CliProject;
  let emulator: HubSpotEmulator;
  let store: StateStore;
  let service: Service | undefined;
  const results: RunResult[] = [];
  const firstRun = Promise.withResolvers<RunResult>();
  const runRows = async () => ((await store.knex("runs").orderBy("id")) as RunRow[]).map((r) => ({ ...r }));

  before(async () => {
    project = scheduledProject();
    emulator = await startHubSpotEmulator({ token: TOKEN, uniqueProperties: { contacts: ["customer_no"] } });
    const loaded = loadProject(path.join(project.dir, "ferry.yaml"), {
      HUBSPOT_BASE_URL: emulator.url,
      HUBSPOT_TOKEN: TOKEN,
    });
    store = await openStateStore(loaded.config.state, loaded.dir);
    service = await startService({
      project: loaded,
      store,
      destinations: createDestinations(loaded, silentLogger),
      log: silentLogger,
      deliveryIntervalMs: 100,
      onRun: (r) => {
        results.push(r);
        firstRun.resolve(r);
      },
    });
  });
  after(async () => {
    await service?.stop();
    await store.close();
    await emulator.close();
    project.cleanup();
  });

  test("runs the job on its schedule, and delivers what it read", async () => {
    const first = await within("a scheduled run", 30_000, firstRun.promise);
    assert.equal(first.job, "legacy");
    assert.equal(first.status, "succeeded");
    assert.equal(first.counts.read, CUSTOMERS);
    assert.equal(first.counts.changed, CUSTOMERS);
    await until("delivery of every record", 30_000, () =>
      emulator.records("contacts").length === CUSTOMERS ? true : undefined,
    );
  });

  test("a trigger while the job runs returns already-running", async () => {
    const s = service!;
    // The scheduled run's trigger ends after its delivery.
    await until("the scheduled run and its delivery to end", 30_000, () =>
      s.running.size === 0 ? true : undefined,
    );
    const a = s.trigger("legacy");
    assert.ok(s.running.has("legacy"), "a run is in flight");
    assert.equal(await s.trigger("legacy"), "already-running");
    const ra = await within("the triggered run", 30_000, a);
    assert.notEqual(ra, "already-running");
    if (ra === "already-running") return;
    assert.equal(ra.status, "succeeded");
    assert.equal(ra.counts.unchanged, CUSTOMERS);
    await assert.rejects(s.trigger("nightly"), /no job named nightly/);
  });

  test("stop() in the middle of a run: whole batches committed, no run left running", async () => {
    const s = service!;
    await until("the previous trigger to end", 30_000, () => (s.running.size === 0 ? true : undefined));
    project.legacy("UPDATE CUSTOMERS SET NAME = NAME || ' (changed)'");
    const pending = s.trigger("legacy");
    assert.equal(s.running.size, 1, "a run is in flight");
    // A reader of its own (WAL): the service's one SQLite connection would serve it only between runs.
    const reader = new Database(project.stateFile, { readonly: true });
    const inFlight = reader.prepare("SELECT id FROM runs WHERE status = 'running' AND read > 0");
    const runId = await until(
      "the run's first committed batch",
      30_000,
      () => (inFlight.get() as { id: number } | undefined)?.id,
      5,
    ).finally(() => reader.close());
    await within("stop()", 30_000, s.stop());
    service = undefined;
    assert.equal(s.running.size, 0, "no run in flight after stop()");
    const result = await pending;
    assert.notEqual(result, "already-running");

    const runs = await runRows();
    assertConsistent(runs);
    const stopped = runs.find((r) => r.id === runId)!;
    assert.equal(stopped.status, "failed");
    assert.match(stopped.error ?? "", /^RUN_INTERRUPTED: the run was interrupted \(ferry is stopping\)/);
    assert.ok(stopped.read < CUSTOMERS, `stopped before the end (read ${stopped.read})`);
    assert.equal(stopped.read % BATCH, 0, "only whole batches committed");
    assert.equal(stopped.changed, stopped.read);
    const queued = (await store.knex("outbox").where({ run_id: runId }).count({ n: "*" }).first()) as {
      n: number;
    };
    assert.equal(Number(queued.n), stopped.changed, "an outbox row for each committed change");
    // Every run reported to onRun; the schedule may have added runs of its own between the tests.
    assert.deepEqual(
      results.map((r) => r.runId),
      runs.map((r) => r.id),
    );
    assert.equal(results.at(-1)?.status, "failed");

    assert.equal(await s.trigger("legacy"), "already-running", "a stopped service starts nothing");
    assert.equal((await runRows()).length, runs.length);
  });
});

describe("ferry serve (child process)", () => {
  let project: CliProject;
  let emulator: HubSpotEmulator;
  before(async () => {
    project = scheduledProject();
    emulator = await startHubSpotEmulator({ token: TOKEN, uniqueProperties: { contacts: ["customer_no"] } });
  });
  after(async () => {
    await emulator.close();
    project.cleanup();
  });

  test("runs the schedule, stops on SIGTERM with exit 0", async () => {
    const child = spawn(process.execPath, [CLI, "--config", project.dir, "serve"], {
      cwd: project.dir,
      env: childEnv({ HUBSPOT_BASE_URL: emulator.url, HUBSPOT_TOKEN: TOKEN, FERRY_LOG_LEVEL: "info" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exit = exited(child, 30_000, "ferry serve");
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
    });
    child.stdout.resume();
    try {
      await until("the startup line", 30_000, () =>
        /ferry serve: one process on sqlite \S+; 1 scheduled job\(s\): legacy \((\* ){6}[\w/+-]+\)/.test(stderr) ? true : undefined,
      );
      // pino lines on stderr: wait for a scheduled run, and for its delivery.
      await until("a delivery of the scheduled run", 30_000, () =>
        /"delivered":[1-9]\d*.*"msg":"delivery finished"/.test(stderr) ? true : undefined,
      );
    } catch (e) {
      child.kill("SIGKILL");
      throw new Error(`${(e as Error).message}\n--- stderr\n${stderr}`, { cause: e });
    }
    child.kill("SIGTERM");
    const code = await exit;
    assert.equal(code, 0, stderr);
    assert.match(stderr, /ferry serve: SIGTERM received/);
    assert.match(stderr, /ferry serve: stopped\n$/);
    assert.equal(emulator.records("contacts").length, CUSTOMERS);

    const db = new Database(project.stateFile, { readonly: true });
    try {
      assertConsistent(db.prepare("SELECT * FROM runs").all() as RunRow[]);
    } finally {
      db.close();
    }
  });
});

describe("a schedule that cannot be scheduled", () => {
  let project: CliProject;
  before(() => {
    project = createCliProject({ customers: 10 });
  });
  after(() => project.cleanup());

  test("startService refuses it with the job's file and line, and leaves nothing scheduled", async () => {
    const job = `${LEGACY_JOB}schedule: "0 2 * * *"\n`;
    project.write("jobs/legacy.yaml", job);
    const loaded = loadProject(path.join(project.dir, "ferry.yaml"), {
      HUBSPOT_BASE_URL: "http://127.0.0.1:9",
      HUBSPOT_TOKEN: TOKEN,
    });
    // A project built past the loader (the loader refuses it): the service still says what is wrong.
    loaded.jobs.get("legacy")!.config.schedule = "every minute";
    const store = await openStateStore(loaded.config.state, loaded.dir);
    const tasks = cron.getTasks().size;
    const destinations = createDestinations(loaded, silentLogger);
    try {
      await assert.rejects(
        startService({
          project: loaded,
          store,
          destinations,
          log: silentLogger,
        }),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.message.startsWith(`jobs/legacy.yaml:${lineOf(job, "schedule:")}:`) &&
          /"every minute" is not a cron expression/.test(e.message),
      );
      assert.equal(cron.getTasks().size, tasks, "no task left scheduled");
    } finally {
      for (const d of destinations.values()) await d.close();
      await store.close();
    }
  });

  test("ferry serve with an invalid schedule exits 2 at once, naming the file and line", async () => {
    const job = `${LEGACY_JOB}schedule: "every minute"\n`;
    project.write("jobs/legacy.yaml", job);
    const child = spawn(process.execPath, [CLI, "--config", project.dir, "serve"], {
      cwd: project.dir,
      env: childEnv({ HUBSPOT_BASE_URL: "http://127.0.0.1:9", HUBSPOT_TOKEN: TOKEN }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
    });
    child.stdout.resume();
    const code = await exited(child, 30_000, "ferry serve with an invalid schedule");
    assert.equal(code, 2, stderr);
    assert.match(
      stderr,
      new RegExp(`jobs/legacy\\.yaml:${lineOf(job, "schedule:")}:\\d+ \\(schedule\\): "every minute" is not a cron expression`),
    );
    assert.doesNotMatch(stderr, /internal error/);
  });
});

describe("a job another process runs", () => {
  let project: CliProject;
  before(() => {
    project = createCliProject({ customers: 10 });
  });
  after(() => project.cleanup());

  test("a run whose lease another process holds is skipped with a log line, and runs once it is released", async () => {
    const loaded = loadProject(path.join(project.dir, "ferry.yaml"), {
      HUBSPOT_BASE_URL: "http://127.0.0.1:9",
      HUBSPOT_TOKEN: TOKEN,
    });
    const store = await openStateStore(loaded.config.state, loaded.dir);
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    // No destination: this is about the run, not its delivery.
    const service = await startService({
      project: loaded,
      store,
      destinations: new Map(),
      log: createLogger({ level: "info", destination }),
    });
    const elsewhere = { holder: "run-elsewhere", worker: "worker-7", pid: 4242, host: "worker-7.example" };
    try {
      const held = await acquireLease(store.knex, "run:legacy", elsewhere, new Date(), 60_000);
      assert.equal(await service.trigger("legacy"), "already-running");
      assert.equal((await store.knex("runs")).length, 0, "no run recorded");
      const skipped = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.msg).startsWith("skipped:"));
      assert.ok(skipped, `a log line says the run was skipped:\n${lines.join("")}`);
      assert.equal(skipped.level, 40, "a warning, not an error");
      assert.equal(
        String(skipped.msg).split(" (last heartbeat")[0],
        `skipped: job legacy is running in worker worker-7 (process 4242 on host worker-7.example) since ${held.lease.acquired_at}`,
      );
      assert.deepEqual([skipped.job, skipped.pid, skipped.host], ["legacy", 4242, "worker-7.example"]);

      await releaseLease(store.knex, "run:legacy", elsewhere.holder);
      const result = await within("the run", 30_000, service.trigger("legacy"));
      assert.notEqual(result, "already-running");
      assert.equal(result !== "already-running" && result.status, "succeeded");
      assert.equal(await getLease(store.knex, "run:legacy"), undefined, "its lease released");
    } finally {
      await service.stop();
      await store.close();
    }
  });
});
