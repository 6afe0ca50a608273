/**
 * A destination's and a source's references resolve only when Ferry is about to talk to that system: the
 * real CLI, on a project with state, run with none of HubSpot's variables nor a database's password set.
 * Commands that read state go through; those that talk to HubSpot or the database stop at the variable
 * missing, naming its file, line and field, before they do anything.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type HubSpotEmulator, startHubSpotEmulator } from "../../fixtures/hubspot-emulator/emulator.ts";
import { type CliProject, type CliResult, createCliProject, FERRY_YAML, ferry, lineOf, shown, TOKEN } from "./project.ts";

/** ferry.yaml with a second connection: a PostgreSQL database whose host and password are references. */
const YAML = FERRY_YAML.replace(
  "destinations:",
  `  remote:
    dialect: postgres
    host: \${env:REMOTE_DB_HOST}
    database: erp
    user: ferry_reader
    password: \${env:REMOTE_DB_PASSWORD}
destinations:`,
);

const REMOTE_JOB = `source:
  type: sql
  connection: remote
  query: SELECT ID, NAME, EMAIL, PHONE FROM CUSTOMERS
mapping: customer
as: legacy
`;

/** None of the project's references set. */
const NOTHING = {
  HUBSPOT_BASE_URL: undefined,
  HUBSPOT_TOKEN: undefined,
  REMOTE_DB_HOST: undefined,
  REMOTE_DB_PASSWORD: undefined,
};

function expectExit(r: CliResult, code: number) {
  assert.equal(r.code, code, shown(r));
}

/** The message of a reference that cannot resolve, at its line of ferry.yaml. */
function unresolved(field: string, variable: string): RegExp {
  const line = lineOf(YAML, `${field.split(".").at(-1)!}: \${env:${variable}}`);
  const escaped = field.replaceAll(".", "\\.");
  return new RegExp(
    `ferry\\.yaml:${line}:\\d+ \\(${escaped}\\): environment variable ${variable} is not set \\(used as \\$\\{env:${variable}\\}\\): set it before running Ferry \\[CONFIG_SECRET_UNRESOLVED\\]`,
  );
}

describe("a command needs the secrets of the systems it talks to, and only those", { concurrency: false }, () => {
  let project: CliProject;
  let emulator: HubSpotEmulator;
  let hubspot: Record<string, string | undefined>;
  const runCount = async () =>
    (JSON.parse((await ferry(project.dir, ["--json", "runs"], NOTHING)).stdout) as { runs: unknown[] }).runs.length;

  before(async () => {
    project = createCliProject({ customers: 5, files: { "jobs/remote.yaml": REMOTE_JOB } });
    project.write("ferry.yaml", YAML);
    emulator = await startHubSpotEmulator({ token: TOKEN, uniqueProperties: { contacts: ["customer_no"] } });
    // Only HubSpot's variables: the remote database's are not needed to run the other jobs.
    hubspot = { ...NOTHING, HUBSPOT_BASE_URL: emulator.url, HUBSPOT_TOKEN: TOKEN };
    expectExit(await ferry(project.dir, ["run", "legacy"], hubspot), 0);
    expectExit(await ferry(project.dir, ["run", "field"], hubspot), 1);
  });
  after(async () => {
    await emulator.close();
    project.cleanup();
  });

  test("runs, conflicts list, explain, dlq list and workers read state without any variable set: exit 0", async () => {
    const runs = await ferry(project.dir, ["runs"], NOTHING);
    expectExit(runs, 0);
    assert.match(runs.stdout, /legacy +snapshot +succeeded/);
    expectExit(await ferry(project.dir, ["runs", "1"], NOTHING), 0);
    const conflicts = await ferry(project.dir, ["conflicts", "list"], NOTHING);
    expectExit(conflicts, 0);
    assert.match(conflicts.stdout, /open +customer +K2 +phone/);
    const explained = await ferry(project.dir, ["explain", "customer", "K2"], NOTHING);
    expectExit(explained, 0);
    assert.match(explained.stdout, /^customer K2: version \d+, active$/m);
    expectExit(await ferry(project.dir, ["dlq", "list"], NOTHING), 0);
    expectExit(await ferry(project.dir, ["workers"], NOTHING), 0);
  });

  test("conflicts resolve writes the outbox and talks to no system: it needs no variable either", async () => {
    const [conflict] = JSON.parse((await ferry(project.dir, ["--json", "conflicts", "list"], NOTHING)).stdout) as { id: number }[];
    const r = await ferry(project.dir, ["conflicts", "resolve", String(conflict!.id), "--use", "field"], NOTHING);
    expectExit(r, 0);
    assert.match(r.stdout, /resolved: customer K2 phone .*; 1 outbox row\(s\) queued/);
  });

  test("validate still reports every reference that cannot resolve, at its line: exit 2", async () => {
    const r = await ferry(project.dir, ["validate"], NOTHING);
    expectExit(r, 2);
    assert.match(r.stderr, unresolved("connections.remote.host", "REMOTE_DB_HOST"));
    assert.match(r.stderr, unresolved("connections.remote.password", "REMOTE_DB_PASSWORD"));
    assert.match(r.stderr, unresolved("destinations.hubspot.base_url", "HUBSPOT_BASE_URL"));
    assert.match(r.stderr, unresolved("destinations.hubspot.token", "HUBSPOT_TOKEN"));
    assert.match(r.stderr, /^4 problem\(s\) in 5 files$/m);
  });

  test("run and deliver, which talk to HubSpot, stop at its variables before anything: exit 2, no run recorded", async () => {
    const runs = await runCount();
    const run = await ferry(project.dir, ["run", "legacy"], { ...hubspot, HUBSPOT_TOKEN: undefined });
    expectExit(run, 2);
    assert.match(run.stderr, unresolved("destinations.hubspot.token", "HUBSPOT_TOKEN"));
    assert.equal(await runCount(), runs, "no run recorded");
    const deliver = await ferry(project.dir, ["deliver"], { ...hubspot, HUBSPOT_BASE_URL: undefined });
    expectExit(deliver, 2);
    assert.match(deliver.stderr, unresolved("destinations.hubspot.base_url", "HUBSPOT_BASE_URL"));
  });

  test("dlq replay delivers, so it needs the destination's variables; with --no-deliver it does not", async () => {
    const replay = await ferry(project.dir, ["dlq", "replay", "--destination", "hubspot"], NOTHING);
    expectExit(replay, 2);
    assert.match(replay.stderr, unresolved("destinations.hubspot.base_url", "HUBSPOT_BASE_URL"));
    const queued = await ferry(project.dir, ["dlq", "replay", "--destination", "hubspot", "--no-deliver"], NOTHING);
    expectExit(queued, 0);
    assert.match(queued.stdout, /^replayed 0 entries$/m);
  });

  test("run --no-deliver and plan talk only to the job's source: they need none of HubSpot's variables", async () => {
    project.legacy("UPDATE CUSTOMERS SET NAME = ? WHERE ID = ?", "Renamed", "K1");
    const plan = await ferry(project.dir, ["plan", "legacy"], NOTHING);
    expectExit(plan, 0);
    assert.match(plan.stdout, /^updates: 1$/m);
    const run = await ferry(project.dir, ["run", "legacy", "--no-deliver"], NOTHING);
    expectExit(run, 0);
    assert.match(run.stdout, /succeeded\. read 5 = unchanged 4 \+ changed 1/);
  });

  test("a job reading through a connection whose variables are unset: run, plan and check stop at the first, at its line", async () => {
    for (const args of [["run", "remote"], ["plan", "remote"], ["check", "remote"]]) {
      const r = await ferry(project.dir, args, hubspot);
      expectExit(r, 2);
      assert.match(r.stderr, unresolved("connections.remote.host", "REMOTE_DB_HOST"), args.join(" "));
    }
    const r = await ferry(project.dir, ["check", "remote"], { ...hubspot, REMOTE_DB_HOST: "127.0.0.1" });
    expectExit(r, 2);
    assert.match(r.stderr, unresolved("connections.remote.password", "REMOTE_DB_PASSWORD"));
  });
});
