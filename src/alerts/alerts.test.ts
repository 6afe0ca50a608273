/**
 * Alerts over a real SQLite state store and real runs of the CLI test project's jobs: each rule opens one
 * incident, sends its alert once (also after a restart: a new evaluator on the same store), and its
 * recovery once; one-shot rules send one alert per event. `job_late` with an injected clock. And inside
 * `ferry serve` (in process): a run's end is evaluated at once, and a channel that never answers holds no
 * run back.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { createCliProject, type CliProject, FERRY_YAML, LEGACY_JOB, TOKEN } from "../../test/cli/project.ts";
import { type HttpReceiver, startHttpReceiver } from "../../test/support/alert-receivers.ts";
import { type Project, loadProject } from "../project.ts";
import { silentLogger } from "../log.ts";
import { runJob } from "../runner/run-job.ts";
import { listIncidents } from "../state/alert-incidents.repo.ts";
import { addDeadLetters, resolveDeadLetters } from "../state/dead-letters.repo.ts";
import { recordFile } from "../state/files.repo.ts";
import { markDelivered } from "../state/outbox.repo.ts";
import { finishRun, startRun } from "../state/runs.repo.ts";
import { openStateStore, type StateStore } from "../state/store.ts";
import { startService } from "../service/service.ts";
import { type Alerts, createAlerts } from "./alerts.ts";
import { verifySignature } from "./channels/signature.ts";
import type { AlertMessage } from "./message.ts";
import { previousOccurrence } from "./observe-jobs.ts";

const SECRET = "alerts-test-secret-0123";
const FAST = { attempts: 3, initialDelayMs: 10, maxDelayMs: 50 };
const ENV = { HUBSPOT_BASE_URL: "http://127.0.0.1:9", HUBSPOT_TOKEN: TOKEN, ALERT_SECRET: SECRET };

/** ferry.yaml with `alerts:` sending every rule given to one webhook. */
function ferryYaml(url: string, rules: string, channel = ""): string {
  return `${FERRY_YAML}alerts:
  project: acme
  channels:
    ops:
      type: webhook
      url: ${url}/ferry
      secret: \${env:ALERT_SECRET}
      timeout: 2s
${channel}  rules:
${rules}`;
}

interface Setup {
  project: CliProject;
  loaded: Project;
  store: StateStore;
  receiver: HttpReceiver;
}

async function setUp(rules: string, answer?: Parameters<typeof startHttpReceiver>[0]): Promise<Setup> {
  const receiver = await startHttpReceiver(answer);
  const project = createCliProject({ customers: 5 });
  project.write("ferry.yaml", ferryYaml(receiver.url, rules));
  const loaded = loadProject(path.join(project.dir, "ferry.yaml"), ENV);
  const store = await openStateStore(loaded.config.state, loaded.dir);
  return { project, loaded, store, receiver };
}

async function tearDown(s: Setup | undefined) {
  if (!s) return;
  await s.store.close();
  await s.receiver.close();
  s.project.cleanup();
}

const messages = (r: HttpReceiver) => r.requests.map((q) => q.json as AlertMessage);
const run = (s: Setup, job: string) => runJob(s.loaded, s.loaded.jobs.get(job)!, s.store, { log: silentLogger });
const alertsOf = (s: Setup, now?: () => Date) =>
  createAlerts({ project: s.loaded, store: s.store, log: silentLogger, retry: FAST, ...(now ? { now } : {}) })!;

describe("run_failed to a webhook", () => {
  let s: Setup;
  before(async () => {
    s = await setUp("    - when: run_failed\n      channels: [ops]\n");
  });
  after(() => tearDown(s));

  test("a failing job, then fixed: one alert, one recovery, signed; nothing again after a restart", async () => {
    const alerts = alertsOf(s);
    assert.deepEqual(await alerts.evaluate(), { opened: 0, resolved: 0, sent: 0, failed: 0 }, "nothing ran yet");
    s.project.legacy("ALTER TABLE CUSTOMERS RENAME TO CUSTOMERS_GONE");
    const failed = await run(s, "legacy");
    assert.equal(failed.status, "failed");
    assert.deepEqual(await alerts.evaluate(), { opened: 1, resolved: 0, sent: 1, failed: 0 });
    const [request] = await s.receiver.waitFor(1);
    const alert = request!.json as AlertMessage;
    assert.deepEqual(
      [alert.type, alert.project, alert.rule, alert.when, alert.job, alert.run_id, alert.error_code, alert.console_path, alert.one_shot],
      ["alert", "acme", "run_failed", "run_failed", "legacy", failed.runId, "SOURCE_SQL_QUERY_FAILED", `/runs/${failed.runId}`, false],
    );
    assert.match(alert.summary, new RegExp(`^job legacy: run ${failed.runId} failed at \\S+: SOURCE_SQL_QUERY_FAILED: .*no such table: CUSTOMERS`));
    const t = Number(/^t=(\d+),/.exec(String(request!.headers["x-ferry-signature"]))![1]);
    assert.ok(verifySignature(String(request!.headers["x-ferry-signature"]), request!.body, SECRET, t));
    assert.ok(Math.abs(t - Date.now() / 1000) < 60, "t is now");

    // Failing again, evaluated again, by this evaluator and by another (a restart): no repeat.
    assert.equal((await run(s, "legacy")).status, "failed");
    await alerts.evaluate();
    assert.deepEqual(await alertsOf(s).evaluate(), { opened: 0, resolved: 0, sent: 0, failed: 0 });
    assert.equal(s.receiver.requests.length, 1);

    s.project.legacy("ALTER TABLE CUSTOMERS_GONE RENAME TO CUSTOMERS");
    const fixed = await run(s, "legacy");
    assert.equal(fixed.status, "succeeded");
    assert.deepEqual(await alertsOf(s).evaluate(), { opened: 0, resolved: 1, sent: 1, failed: 0 });
    const recovery = messages(s.receiver)[1]!;
    assert.deepEqual([recovery.type, recovery.id, recovery.job, recovery.run_id, recovery.error_code], ["recovery", `${alert.id.split("-")[0]}-recovery`, "legacy", fixed.runId, null]);
    assert.equal(recovery.opened_at, alert.opened_at);
    assert.match(recovery.summary, new RegExp(`^job legacy: run ${fixed.runId} succeeded at `));
    await alerts.evaluate();
    await alertsOf(s).evaluate();
    assert.equal(s.receiver.requests.length, 2, "one alert and one recovery in all");

    const [incident] = await listIncidents(s.store.knex);
    assert.deepEqual([incident!.rule, incident!.subject, incident!.sent], ["run_failed", "legacy", "recovery"]);
    assert.ok(incident!.resolved_at && incident!.last_sent_at);
  });

  test("a job failing again after its recovery is a new incident", async () => {
    s.project.legacy("ALTER TABLE CUSTOMERS RENAME TO CUSTOMERS_GONE");
    try {
      await run(s, "legacy");
      await alertsOf(s).evaluate();
      assert.deepEqual(messages(s.receiver).map((m) => m.type), ["alert", "recovery", "alert"]);
    } finally {
      s.project.legacy("ALTER TABLE CUSTOMERS_GONE RENAME TO CUSTOMERS");
    }
  });
});

describe("one-shot rules: conflicts_opened_above and file_failed", () => {
  let s: Setup;
  before(async () => {
    s = await setUp(
      "    - when: conflicts_opened_above\n      threshold: 0\n      channels: [ops]\n    - when: file_failed\n      jobs: [field]\n      channels: [ops]\n",
    );
  });
  after(() => tearDown(s));

  test("one alert per run or file after the rule started watching, never a recovery", async () => {
    const alerts = alertsOf(s);
    // Before the rules first look, what is in the state store is history: not alerted on.
    await run(s, "legacy");
    const old = await run(s, "field");
    assert.equal(old.counts.conflicts, 1);
    await alerts.evaluate();
    assert.equal(s.receiver.requests.length, 0);

    // The field team agreed with the legacy phone of K1: the legacy system changing it opens a conflict.
    s.project.legacy("UPDATE CUSTOMERS SET PHONE = '+1 555 0111' WHERE ID = 'K1'");
    const conflicted = await run(s, "legacy");
    assert.equal(conflicted.counts.conflicts, 1);
    // A file of the field job failed (as a folder job's ledger records it).
    const runId = await startRun(s.store.knex, "field", "snapshot", new Date().toISOString());
    await finishRun(s.store.knex, runId, "failed", new Date().toISOString(), "SOURCE_CSV_UNPARSABLE: line 3: a quote is not closed");
    const at = new Date().toISOString();
    await recordFile(s.store.knex, { job: "field", name: "bad.csv", hash: "h1", size: 10, runId, outcome: "failed", reason: "line 3: a quote is not closed", processedAt: at });

    assert.deepEqual(await alerts.evaluate(), { opened: 2, resolved: 0, sent: 2, failed: 0 });
    await alerts.evaluate();
    await alertsOf(s).evaluate();
    const sent = messages(s.receiver);
    assert.equal(sent.length, 2);
    const conflicts = sent.find((m) => m.when === "conflicts_opened_above")!;
    assert.deepEqual([conflicts.type, conflicts.job, conflicts.run_id, conflicts.one_shot], ["alert", "legacy", conflicted.runId, true]);
    assert.match(conflicts.summary, /^job legacy: run \d+ opened 1 conflict\(s\) at \S+, more than the threshold of 0/);
    const file = sent.find((m) => m.when === "file_failed")!;
    assert.deepEqual([file.job, file.run_id, file.error_code, file.console_path, file.details.file], ["field", runId, "SOURCE_CSV_UNPARSABLE", `/runs/${runId}`, "bad.csv"]);
    assert.match(file.summary, /^job field: file bad\.csv failed at \S+ \(moved to failed\/\): line 3: a quote is not closed$/);
  });
});

describe("destination_down and dead_letters_above", () => {
  let s: Setup;
  before(async () => {
    s = await setUp("    - when: destination_down\n      for: 15m\n      channels: [ops]\n    - when: dead_letters_above\n      threshold: 1\n      channels: [ops]\n");
  });
  after(() => tearDown(s));

  test("rows due longer than `for` alert, their delivery recovers; dead letters over the threshold likewise", async () => {
    let clock = new Date();
    const alerts = alertsOf(s, () => clock);
    const result = await run(s, "legacy");
    assert.equal(result.counts.outbox, 5);
    await s.store.knex("outbox").update({ last_error: "DEST_UNREACHABLE: POST http://127.0.0.1:9/crm/v3/objects/contacts/batch/upsert failed: ECONNREFUSED" });
    await alerts.evaluate();
    assert.equal(s.receiver.requests.length, 0, "due for less than 15 minutes");

    clock = new Date(Date.now() + 16 * 60_000);
    await alerts.evaluate();
    await alerts.evaluate();
    const [down] = messages(s.receiver);
    assert.deepEqual([down!.when, down!.destination, down!.error_code, down!.run_id, down!.console_path], ["destination_down", "hubspot", "DEST_UNREACHABLE", result.runId, "/destinations"]);
    assert.match(
      down!.summary,
      new RegExp(String.raw`^destination hubspot looks down: 5 record\(s\) due for more than 15m not delivered, the oldest due since \S+; last error: DEST_UNREACHABLE`),
    );

    const ids = ((await s.store.knex("outbox").select("id")) as { id: number }[]).map((r) => r.id);
    await markDelivered(s.store.knex, ids, new Date().toISOString());
    const letter = { destination: "hubspot", entity: "customer", version: 1, code: "DEST_REJECTED", reason: "HubSpot answered 400", request: {}, response: {}, attempts: 1 };
    await addDeadLetters(s.store.knex, new Date().toISOString(), [1, 2].map((n) => ({ ...letter, outboxId: ids[n]!, key: `K${n}` })));
    await alerts.evaluate();
    assert.deepEqual(messages(s.receiver).slice(1).map((m) => `${m.type} ${m.when}`).sort(), ["alert dead_letters_above", "recovery destination_down"]);
    const dead = messages(s.receiver).find((m) => m.when === "dead_letters_above")!;
    assert.equal(dead.error_code, "DEST_REJECTED");
    assert.match(
      dead.summary,
      new RegExp(String.raw`^destination hubspot: 2 open dead letter\(s\), more than the threshold of 1; the newest: customer K2, DEST_REJECTED: HubSpot answered 400`),
    );

    const open = ((await s.store.knex("dead_letters").select("id")) as { id: number }[]).map((r) => r.id);
    await resolveDeadLetters(s.store.knex, open.slice(0, 1), "discarded", new Date().toISOString(), "test");
    await alerts.evaluate();
    await alerts.evaluate();
    assert.deepEqual(messages(s.receiver).map((m) => `${m.type} ${m.when}`).slice(3), ["recovery dead_letters_above"]);
  });
});

describe("job_late with an injected clock", () => {
  let s: Setup;
  before(async () => {
    s = await setUp("    - when: job_late\n      grace: 10m\n      channels: [ops]\n");
    s.project.write("jobs/legacy.yaml", `${LEGACY_JOB}schedule: "0 * * * *"\ntimezone: UTC\n`);
    s.loaded = loadProject(path.join(s.project.dir, "ferry.yaml"), ENV);
  });
  after(() => tearDown(s));

  test("late once an occurrence passes its grace with no successful run; recovered when a run succeeds", async () => {
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const at = (ms: number) => new Date(hour + ms);
    const H = 3_600_000;
    const M = 60_000;
    let clock = at(-3 * H - M);
    const alerts: Alerts = alertsOf(s, () => clock);
    // 5 minutes after the occurrence of hour-3h: within its grace.
    clock = at(-3 * H + 5 * M);
    await alerts.evaluate();
    assert.equal(s.receiver.requests.length, 0);
    // 15 minutes after it, no run at all: late.
    clock = at(-3 * H + 15 * M);
    await alerts.evaluate();
    clock = at(-2 * H + 30 * M);
    await alerts.evaluate();
    assert.equal(s.receiver.requests.length, 1, "one alert while it stays late");
    const late = messages(s.receiver)[0]!;
    assert.deepEqual([late.when, late.job, late.at, late.details.due_at], ["job_late", "legacy", at(-3 * H + 10 * M).toISOString(), at(-3 * H).toISOString()]);
    assert.match(
      late.summary,
      new RegExp(String.raw`^job legacy is late: no successful run since its occurrence at \S+ \(schedule "0 \* \* \* \*", UTC\) within 10m; last successful run: none$`),
    );

    const succeeded = await run(s, "legacy");
    assert.equal(succeeded.status, "succeeded");
    clock = new Date(Date.now() + M);
    await alerts.evaluate();
    const recovery = messages(s.receiver)[1]!;
    assert.deepEqual([recovery.type, recovery.run_id], ["recovery", succeeded.runId]);
    // An hour and a grace on without another run: late again, a new incident.
    clock = new Date(Date.now() + 2 * H);
    await alerts.evaluate();
    assert.deepEqual(messages(s.receiver).map((m) => m.type), ["alert", "recovery", "alert"]);
    assert.match(messages(s.receiver)[2]!.summary, new RegExp(`last successful run: run ${succeeded.runId} at `));
  });

  test("the previous occurrence is computed in the job's time zone", () => {
    const noon = new Date("2026-01-15T12:00:00Z");
    assert.equal(previousOccurrence("0 2 * * *", "America/New_York", noon).toISOString(), "2026-01-15T07:00:00.000Z");
    assert.equal(previousOccurrence("0 2 * * *", "Asia/Tokyo", noon).toISOString(), "2026-01-14T17:00:00.000Z");
    assert.equal(previousOccurrence("0 2 * * *", "UTC", new Date("2026-01-15T02:00:00Z")).toISOString(), "2026-01-15T02:00:00.000Z");
  });
});

/** `ferry serve`'s service without destinations, its alerts checked only after runs (and at start). */
const serve = (s: Setup) =>
  startService({
    project: s.loaded,
    store: s.store,
    destinations: new Map(),
    log: silentLogger,
    alerts: { checkEveryMs: 3_600_000, retry: FAST },
  });

describe("inside ferry serve (in process)", () => {
  let s: Setup | undefined;
  afterEach(() => tearDown(s));
  beforeEach(() => {
    s = undefined;
  });

  test("a run's end is evaluated at once, not at the next check", async () => {
    s = await setUp("    - when: run_failed\n      channels: [ops]\n");
    s.project.legacy("ALTER TABLE CUSTOMERS RENAME TO CUSTOMERS_GONE");
    const service = await serve(s);
    try {
      const result = await service.trigger("legacy");
      assert.ok(result !== "already-running" && result.status === "failed");
      await s.receiver.waitFor(1);
      assert.equal(messages(s.receiver)[0]!.run_id, result.runId);
    } finally {
      await service.stop();
    }
  });

  test("a channel that never answers holds no run back, and the stop waits at most an attempt", async () => {
    s = await setUp("    - when: run_failed\n      channels: [ops]\n", () => "hang");
    s.project.legacy("ALTER TABLE CUSTOMERS RENAME TO CUSTOMERS_GONE");
    const service = await serve(s);
    const started = Date.now();
    try {
      const first = await service.trigger("legacy");
      await s.receiver.waitFor(1);
      const second = await service.trigger("legacy");
      assert.ok(first !== "already-running" && second !== "already-running");
      assert.equal(second.status, "failed");
      assert.ok(Date.now() - started < 1_900, `two runs took ${Date.now() - started} ms while the channel hangs (2 s a try)`);
    } finally {
      const stopping = Date.now();
      await service.stop();
      assert.ok(Date.now() - stopping < 5_000, `stopped in ${Date.now() - stopping} ms`);
    }
  });
});
