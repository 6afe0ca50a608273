/**
 * Two workers on one PostgreSQL state store, each with its own alerts evaluator (its own lease holder):
 * whichever evaluates, and however often, each alert and each recovery is sent once. The lease `alerts`
 * lets one evaluate at a time; the incidents in the state store keep the other from sending again.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type Alerts, createAlerts } from "../../src/alerts/alerts.ts";
import type { AlertMessage } from "../../src/alerts/message.ts";
import { thisProcess } from "../../src/cluster/worker.ts";
import { silentLogger } from "../../src/log.ts";
import { loadProject, type Project } from "../../src/project.ts";
import { runJob } from "../../src/runner/run-job.ts";
import { listIncidents } from "../../src/state/alert-incidents.repo.ts";
import { openStateStore, type StateStore } from "../../src/state/store.ts";
import { type CliProject, createCliProject, FERRY_YAML, TOKEN } from "../cli/project.ts";
import { type HttpReceiver, startHttpReceiver } from "../support/alert-receivers.ts";
import { createTestDatabase, pgSkip, type TestDatabase } from "../support/pg.ts";

const SECRET = "cluster-alerts-secret-0123";

describe("alerts of two workers on one PostgreSQL state", { skip: await pgSkip() }, () => {
  let db: TestDatabase;
  let project: CliProject;
  let receiver: HttpReceiver;
  let loaded: Project;
  /** One state store (its own pool) per worker, as two processes have. */
  const stores: StateStore[] = [];
  let workers: Alerts[];

  before(async () => {
    db = await createTestDatabase();
    receiver = await startHttpReceiver();
    project = createCliProject({ customers: 5 });
    const yaml = FERRY_YAML.replace("state:\n  path: .ferry/state.db\n", "state:\n  url: ${env:STATE_URL}\n");
    project.write(
      "ferry.yaml",
      `${yaml}alerts:\n  channels:\n    ops:\n      type: webhook\n      url: ${receiver.url}\n      secret: \${env:ALERT_SECRET}\n  rules:\n    - when: run_failed\n      channels: [ops]\n`,
    );
    const env = { STATE_URL: db.url, HUBSPOT_BASE_URL: "http://127.0.0.1:9", HUBSPOT_TOKEN: TOKEN, ALERT_SECRET: SECRET };
    loaded = loadProject(path.join(project.dir, "ferry.yaml"), env);
    for (let i = 0; i < 2; i++) stores.push(await openStateStore(loaded.config.state, loaded.dir));
    const retry = { attempts: 3, initialDelayMs: 10, maxDelayMs: 50 };
    workers = stores.map((store) => createAlerts({ project: loaded, store, log: silentLogger, holder: thisProcess(), retry })!);
  });
  after(async () => {
    for (const store of stores) await store.close();
    await receiver.close();
    await db.drop();
    project.cleanup();
  });

  /** Both workers evaluate at once, a few times over, and each alone. */
  const evaluateEverywhere = async () => {
    const outcomes = [];
    for (let round = 0; round < 3; round++) outcomes.push(...(await Promise.all(workers.map((w) => w.evaluate()))));
    for (const w of workers) outcomes.push(await w.evaluate());
    return outcomes;
  };
  const run = () => runJob(loaded, loaded.jobs.get("legacy")!, stores[0]!, { log: silentLogger });

  test("a failing job alerts once, its recovery comes once, whichever worker evaluates", async () => {
    project.legacy("ALTER TABLE CUSTOMERS RENAME TO CUSTOMERS_GONE");
    const failed = await run();
    assert.equal(failed.status, "failed");
    const outcomes = await evaluateEverywhere();
    assert.ok(outcomes.every((o) => o === "held" || typeof o === "object"));
    assert.ok(outcomes.slice(-2).every((o) => typeof o === "object"), "each worker evaluates while the other does not");
    assert.equal(receiver.requests.length, 1, "one alert");
    assert.equal((receiver.requests[0]!.json as AlertMessage).run_id, failed.runId);

    assert.equal((await run()).status, "failed");
    await evaluateEverywhere();
    assert.equal(receiver.requests.length, 1, "a second failure of the same job is the same incident");

    project.legacy("ALTER TABLE CUSTOMERS_GONE RENAME TO CUSTOMERS");
    const fixed = await run();
    assert.equal(fixed.status, "succeeded");
    await evaluateEverywhere();
    const sent = receiver.requests.map((r) => r.json as AlertMessage);
    assert.deepEqual(sent.map((m) => `${m.type} ${m.run_id}`), [`alert ${failed.runId}`, `recovery ${fixed.runId}`]);
    const incidents = await listIncidents(stores[1]!.knex);
    assert.deepEqual(incidents.map((i) => [i.subject, i.sent]), [["legacy", "recovery"]]);
    assert.equal((await stores[0]!.knex("leases").where({ name: "alerts" })).length, 0, "the lease is released after each evaluation");
  });
});
