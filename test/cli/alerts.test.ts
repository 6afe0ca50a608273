/**
 * Alerts end to end: a real `ferry serve` child process (console on a free port) runs a job every second
 * whose legacy table is missing, then is fixed. Its webhook receives exactly one alert, signed, and one
 * recovery, however many runs failed and succeeded around them. And `ferry serve` without an alert
 * channel's secret does not start: exit 2, naming the line.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { type HubSpotEmulator, startHubSpotEmulator } from "../../fixtures/hubspot-emulator/emulator.ts";
import { verifySignature } from "../../src/alerts/channels/signature.ts";
import type { AlertMessage } from "../../src/alerts/message.ts";
import { type HttpReceiver, startHttpReceiver } from "../support/alert-receivers.ts";
import { CLI, type CliProject, childEnv, createCliProject, exited, FERRY_YAML, ferry, LEGACY_JOB, lineOf, TOKEN } from "./project.ts";

const SECRET = "e2e-alerts-secret-0123";

const ALERTS = (url: string) => `alerts:
  project: e2e
  channels:
    ops:
      type: webhook
      url: ${url}/ferry
      secret: \${env:ALERT_SECRET}
  rules:
    - when: run_failed
      channels: [ops]
`;

/** Resolves with the first value `check` returns that is not undefined (polled); fails past the deadline. */
async function until<T>(what: string, deadlineMs: number, check: () => T | undefined): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("alerts of ferry serve (child process)", () => {
  let project: CliProject;
  let emulator: HubSpotEmulator;
  let receiver: HttpReceiver;
  before(async () => {
    emulator = await startHubSpotEmulator({ token: TOKEN, uniqueProperties: { contacts: ["customer_no"] } });
    receiver = await startHttpReceiver();
    project = createCliProject({ customers: 5 });
    project.write("ferry.yaml", `${FERRY_YAML}${ALERTS(receiver.url)}`);
    project.write("jobs/legacy.yaml", `${LEGACY_JOB}schedule: "* * * * * *"\n`);
  });
  after(async () => {
    await receiver.close();
    await emulator.close();
    project.cleanup();
  });

  test("a job that fails, then is fixed: one alert and one recovery", async () => {
    project.legacy("ALTER TABLE CUSTOMERS RENAME TO CUSTOMERS_GONE");
    const child = spawn(process.execPath, [CLI, "--config", project.dir, "serve"], {
      cwd: project.dir,
      env: childEnv({ HUBSPOT_BASE_URL: emulator.url, HUBSPOT_TOKEN: TOKEN, ALERT_SECRET: SECRET, FERRY_LOG_LEVEL: "info" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exit = exited(child, 90_000, "ferry serve");
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
    });
    child.stdout.resume();
    let state: Database.Database | undefined;
    const runs = (status: string, after = 0) =>
      (state!.prepare("SELECT COUNT(*) AS n FROM runs WHERE status = ? AND id > ?").get(status, after) as { n: number }).n;
    try {
      await until("the startup line", 30_000, () => (/ferry serve: one process on sqlite .*; console at http:\/\/127\.0\.0\.1:\d+/.test(stderr) ? true : undefined));
      const [request] = await receiver.waitFor(1, 30_000);
      const alert = request!.json as AlertMessage;
      assert.deepEqual([alert.type, alert.project, alert.job, alert.error_code, alert.console_path], ["alert", "e2e", "legacy", "SOURCE_SQL_QUERY_FAILED", `/runs/${alert.run_id}`]);
      const signature = String(request!.headers["x-ferry-signature"]);
      assert.ok(verifySignature(signature, request!.body, SECRET, Math.floor(Date.now() / 1000)), "signed with the channel's secret");

      state = new Database(project.stateFile, { readonly: true });
      await until("two more failed runs after the alert", 30_000, () => (runs("failed", alert.run_id!) >= 2 ? true : undefined));
      project.legacy("ALTER TABLE CUSTOMERS_GONE RENAME TO CUSTOMERS");
      await receiver.waitFor(2, 30_000);
      const recovery = receiver.requests[1]!.json as AlertMessage;
      assert.deepEqual([recovery.type, recovery.job, recovery.id], ["recovery", "legacy", alert.id.replace("-alert", "-recovery")]);
      assert.ok(recovery.run_id! > alert.run_id!);
      await until("two more successful runs after the recovery", 30_000, () => (runs("succeeded", recovery.run_id!) >= 2 ? true : undefined));
    } catch (e) {
      child.kill("SIGKILL");
      throw new Error(`${(e as Error).message}\n--- stderr\n${stderr.slice(-5000)}`, { cause: e });
    } finally {
      state?.close();
    }
    child.kill("SIGTERM");
    assert.equal(await exit, 0, stderr.slice(-5000));
    assert.equal(receiver.requests.length, 2, "exactly one alert and one recovery");
    assert.match(stderr, /"msg":"alert sent to ops"/);
    assert.ok(!stderr.includes(SECRET), "the secret is never logged");
  });

  test("ferry serve without the channel's secret exits 2 at once, naming its line; ferry runs needs none", async () => {
    const text = `${FERRY_YAML}${ALERTS(receiver.url)}`;
    const served = await ferry(project.dir, ["serve"], { HUBSPOT_BASE_URL: emulator.url, HUBSPOT_TOKEN: TOKEN });
    assert.equal(served.code, 2, served.stderr);
    assert.match(
      served.stderr,
      new RegExp(`ferry\\.yaml:${lineOf(text, "secret: ${env:ALERT_SECRET}")}:\\d+ \\(alerts\\.channels\\.ops\\.secret\\): environment variable ALERT_SECRET is not set`),
    );
    const runs = await ferry(project.dir, ["runs"], {});
    assert.equal(runs.code, 0, runs.stderr);
  });
});
