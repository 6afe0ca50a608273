/**
 * The `ferry` command line, end to end: the real CLI as a child process, on throwaway projects with a
 * legacy SQLite database and a CSV file, delivering to an in-process HubSpot emulator.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type HubSpotEmulator, startHubSpotEmulator } from "../../fixtures/hubspot-emulator/emulator.ts";
import {
  type CliProject,
  type CliResult,
  CUSTOMER_MAPPING,
  closedUrl,
  createCliProject,
  FERRY_YAML,
  ferry,
  LEGACY_JOB,
  lineOf,
  shown,
  TOKEN,
} from "./project.ts";

interface RunsJson {
  runs: { id: number; job: string; status: string; read: number }[];
  outbox: { destination: string; status: string; n: number }[];
}

const startEmulator = () =>
  startHubSpotEmulator({ token: TOKEN, uniqueProperties: { contacts: ["customer_no"] } });

function expectExit(r: CliResult, code: number) {
  assert.equal(r.code, code, shown(r));
}

function parse<T>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    assert.fail(`stdout is not JSON:\n${shown(r)}`);
  }
}

const outboxBy = (runs: RunsJson, status: string) =>
  runs.outbox.filter((o) => o.status === status).reduce((n, o) => n + o.n, 0);

const contact = (emulator: HubSpotEmulator, key: string) =>
  emulator.findBy("contacts", "customer_no", key)?.properties;

// The suites are independent (own project, own emulator) and run side by side; tests within one run in order.
describe("ferry CLI", { concurrency: true }, () => {
  describe("ferry validate", { concurrency: false }, () => {
    let project: CliProject;
    const env = { HUBSPOT_BASE_URL: "http://127.0.0.1:9", HUBSPOT_TOKEN: TOKEN };
    before(() => {
      project = createCliProject();
    });
    after(() => project.cleanup());

    test("a valid project: exit 0, every file listed", async () => {
      const r = await ferry(project.dir, ["validate"], env);
      expectExit(r, 0);
      assert.match(r.stdout, /^4 files valid: /);
      for (const file of ["ferry.yaml", "mappings/customer.yaml", "jobs/legacy.yaml", "jobs/field.yaml"])
        assert.ok(r.stdout.includes(file), `${file} listed:\n${r.stdout}`);
      assert.equal(existsSync(project.stateFile), false, "validate opens no state store");
    });

    test("--json: ok, files, no errors", async () => {
      const r = await ferry(project.dir, ["--json", "validate"], env);
      expectExit(r, 0);
      const out = parse<{ ok: boolean; files: string[]; errors: unknown[] }>(r);
      assert.equal(out.ok, true);
      assert.deepEqual(out.errors, []);
      assert.deepEqual(
        [...out.files].sort(),
        ["ferry.yaml", "jobs/field.yaml", "jobs/legacy.yaml", "mappings/customer.yaml"].sort(),
      );
    });

    test("--schemas writes the JSON Schemas of the three file kinds", async () => {
      const out = path.join(project.dir, "schemas");
      const r = await ferry(project.dir, ["validate", "--schemas", out], env);
      expectExit(r, 0);
      assert.deepEqual(readdirSync(out).sort(), [
        "job.schema.json",
        "mapping.schema.json",
        "project.schema.json",
      ]);
      const job = JSON.parse(readFileSync(path.join(out, "job.schema.json"), "utf8")) as {
        properties: Record<string, unknown>;
      };
      assert.ok(job.properties.batch_size && job.properties.mapping, "the job schema describes its fields");
    });
  });

  describe("bad configuration: exit 2, file:line, field and what was expected; nothing written", {
    concurrency: true,
  }, () => {
    let base: CliProject;
    const env = { HUBSPOT_BASE_URL: "http://127.0.0.1:9", HUBSPOT_TOKEN: TOKEN };
    const copies: CliProject[] = [];
    before(() => {
      base = createCliProject();
    });
    after(() => {
      for (const c of [base, ...copies]) c.cleanup();
    });

    /** Breaks a copy of the project; `validate` and `run` both refuse it, and no state store appears. */
    async function refused(
      edit: (p: CliProject) => void,
      expected: RegExp[],
      extraEnv: Record<string, string | undefined> = {},
    ): Promise<string> {
      const p = base.copy();
      copies.push(p);
      edit(p);
      const v = await ferry(p.dir, ["validate"], { ...env, ...extraEnv });
      expectExit(v, 2);
      for (const re of expected) assert.match(v.stderr, re, shown(v));
      const run = await ferry(p.dir, ["run", "legacy"], { ...env, ...extraEnv });
      expectExit(run, 2);
      for (const re of expected) assert.match(run.stderr, re, shown(run));
      assert.equal(existsSync(p.stateFile), false, "no state store created");
      return v.stderr;
    }

    test("malformed YAML (bad indentation)", async () => {
      await refused(
        (p) =>
          p.write(
            "jobs/legacy.yaml",
            "source:\n  type: sql\n connection: legacy\n  query: SELECT 1\nmapping: customer\nas: legacy\n",
          ),
        [/jobs\/legacy\.yaml:3:\d+: YAML syntax error: .*column/, /\[CONFIG_YAML_SYNTAX\]/],
      );
    });

    test("an unknown key in a job, with a suggestion", async () => {
      const job = `${LEGACY_JOB}batchsize: 100\n`;
      const line = lineOf(job, "batchsize");
      await refused(
        (p) => p.write("jobs/legacy.yaml", job),
        [
          new RegExp(
            `jobs/legacy\\.yaml:${line}:1 \\(batchsize\\): unknown key "batchsize" \\(did you mean "batch_size"\\?\\)`,
          ),
          /allowed keys: .*batch_size/,
        ],
      );
    });

    test("a mapping rule naming an unknown source", async () => {
      const mapping = CUSTOMER_MAPPING.replace("rule: { owner: legacy }", "rule: { owner: legacyy }");
      const line = lineOf(mapping, "legacyy");
      await refused(
        (p) => p.write("mappings/customer.yaml", mapping),
        [
          new RegExp(
            `mappings/customer\\.yaml:${line}:\\d+ \\(fields\\.name\\.rule\\): unknown source "legacyy": the sources are legacy, field`,
          ),
        ],
      );
    });

    test("a schedule that is not a cron expression", async () => {
      const job = `${LEGACY_JOB}schedule: "every minute"\n`;
      await refused(
        (p) => p.write("jobs/legacy.yaml", job),
        [
          new RegExp(
            `jobs/legacy\\.yaml:${lineOf(job, "schedule:")}:\\d+ \\(schedule\\): "every minute" is not a cron expression: expected 5 or 6 fields but got 2`,
          ),
          /\[CONFIG_INVALID\]/,
        ],
      );
    });

    test("a cron expression with a field out of range", async () => {
      const job = `${LEGACY_JOB}schedule: "0 25 * * *"\n`;
      await refused(
        (p) => p.write("jobs/legacy.yaml", job),
        [new RegExp(`jobs/legacy\\.yaml:${lineOf(job, "schedule:")}:\\d+ \\(schedule\\): "0 25 \\* \\* \\*" is not a cron expression: .*hour`)],
      );
    });

    test("a job naming a mapping that does not exist", async () => {
      const job = LEGACY_JOB.replace("mapping: customer", "mapping: client");
      await refused(
        (p) => p.write("jobs/legacy.yaml", job),
        [
          new RegExp(
            `jobs/legacy\\.yaml:${lineOf(job, "mapping:")}:1 \\(mapping\\): no valid mapping for entity "client": the valid mappings are customer`,
          ),
        ],
      );
    });

    test("a literal token in ferry.yaml is refused, and not echoed", async () => {
      const yaml = FERRY_YAML.replace("token: ${env:HUBSPOT_TOKEN}", "token: abc123");
      const stderr = await refused(
        (p) => p.write("ferry.yaml", yaml),
        [
          new RegExp(
            `ferry\\.yaml:${lineOf(yaml, "token:")}:\\d+ \\(destinations\\.hubspot\\.token\\): a literal secret is not allowed here`,
          ),
        ],
      );
      assert.doesNotMatch(stderr, /abc123/);
    });

    test("an unresolved ${env:...} reference", async () => {
      const yaml = FERRY_YAML.replace("${env:HUBSPOT_TOKEN}", "${env:FERRY_TEST_MISSING_TOKEN}");
      await refused(
        (p) => p.write("ferry.yaml", yaml),
        [
          new RegExp(
            `ferry\\.yaml:${lineOf(yaml, "token:")}:\\d+ \\(destinations\\.hubspot\\.token\\): environment variable FERRY_TEST_MISSING_TOKEN is not set`,
          ),
          /\[CONFIG_SECRET_UNRESOLVED\]/,
        ],
        { FERRY_TEST_MISSING_TOKEN: undefined },
      );
    });
  });

  describe("ferry run, plan, runs, conflicts, explain on one project", { concurrency: false }, () => {
    let project: CliProject;
    let emulator: HubSpotEmulator;
    let env: Record<string, string>;
    const runs = async () => parse<RunsJson>(await ferry(project.dir, ["--json", "runs"], env));

    before(async () => {
      project = createCliProject({ customers: 10 });
      emulator = await startEmulator();
      env = { HUBSPOT_BASE_URL: emulator.url, HUBSPOT_TOKEN: TOKEN };
    });
    after(async () => {
      await emulator.close();
      project.cleanup();
    });

    test("run: exit 0, the accounting line, the records in HubSpot", async () => {
      const r = await ferry(project.dir, ["run", "legacy"], env);
      expectExit(r, 0);
      assert.match(
        r.stdout,
        /run 1 of legacy: succeeded\. read 10 = unchanged 0 \+ changed 10 \+ rejected 0 \+ filtered 0/,
      );
      assert.match(
        r.stdout,
        /delivery to hubspot: created 10, updated 0, deleted 0, failed 0, still pending 0/,
      );
      assert.equal(emulator.records("contacts").length, 10);
      const k7 = contact(emulator, "K7");
      assert.deepEqual(
        [k7?.customer_no, k7?.firstname, k7?.email, k7?.phone],
        ["K7", "Name 7", "n7@legacy.example", "+1 555 0007"],
      );
    });

    test("a second run delivers nothing", async () => {
      const requests = emulator.requests.length;
      const r = await ferry(project.dir, ["run", "legacy"], env);
      expectExit(r, 0);
      assert.match(r.stdout, /read 10 = unchanged 10 \+ changed 0 \+ rejected 0 \+ filtered 0/);
      assert.match(r.stdout, /outbox rows 0/);
      assert.match(
        r.stdout,
        /delivery to hubspot: created 0, updated 0, deleted 0, failed 0, still pending 0/,
      );
      assert.equal(emulator.requests.length, requests, "no request to HubSpot");
    });

    test("plan after a change in the legacy data lists the update and writes nothing", async () => {
      project.legacy("UPDATE CUSTOMERS SET NAME = ? WHERE ID = ?", "Renamed", "K3");
      const runsBefore = await runs();
      const requests = emulator.requests.length;

      const r = await ferry(project.dir, ["plan", "legacy"], env);
      expectExit(r, 0);
      assert.match(r.stdout, /^plan for legacy \(nothing written\): succeeded$/m);
      assert.match(r.stdout, /^updates: 1\n {2}K3 \(name\)$/m);
      assert.match(r.stdout, /^creates: 0$/m);
      assert.match(r.stdout, /^deletes: 0$/m);

      const json = parse<{ counts: { changed: number }; totals: { update: number } }>(
        await ferry(project.dir, ["--json", "plan", "legacy"], env),
      );
      assert.equal(json.counts.changed, 1);
      assert.equal(json.totals.update, 1);

      assert.deepEqual(await runs(), runsBefore, "no run recorded, the outbox untouched");
      assert.equal(emulator.requests.length, requests, "no request to HubSpot");
      assert.equal(contact(emulator, "K3")?.firstname, "Name 3");
    });

    test("run --json: counts and delivery tallies", async () => {
      const r = await ferry(project.dir, ["--json", "run", "legacy"], env);
      expectExit(r, 0);
      const out = parse<{
        runId: number;
        status: string;
        counts: Record<string, number>;
        delivery: Record<string, Record<string, number>>;
      }>(r);
      assert.equal(out.status, "succeeded");
      assert.equal(out.runId, 3);
      assert.deepEqual(out.counts, {
        read: 10,
        unchanged: 9,
        changed: 1,
        rejected: 0,
        filtered: 0,
        deleted: 0,
        conflicts: 0,
        outbox: 1,
      });
      assert.deepEqual(out.delivery.hubspot, {
        delivered: 1,
        created: 0,
        updated: 1,
        deleted: 0,
        retried: 0,
        dead: 0,
        held: 0,
        remoteEdits: 0,
        pending: 0,
      });
      assert.equal(contact(emulator, "K3")?.firstname, "Renamed");
    });

    let fieldRun = 0;
    test("a CSV with a rejected row: exit 1, the line reported", async () => {
      const r = await ferry(project.dir, ["run", "field"], env);
      expectExit(r, 1);
      const m =
        /^run (\d+) of field: partial\. read 3 = unchanged 0 \+ changed 2 \+ rejected 1 \+ filtered 0/m.exec(
          r.stdout,
        );
      assert.ok(m, shown(r));
      fieldRun = Number(m[1]);
      assert.match(r.stdout, /rejected line 4 \(key K3\): email \(E-mail\): expected an email address/);
      assert.match(r.stdout, /conflicts opened 1/);
      // The field team's email wins by priority; the disputed phone stays as it was.
      assert.equal(contact(emulator, "K2")?.email, "k2@field.example");
      assert.equal(contact(emulator, "K2")?.phone, "+1 555 0002");
    });

    test("runs <id> lists the rejected rows", async () => {
      const r = await ferry(project.dir, ["runs", String(fieldRun)], env);
      expectExit(r, 0);
      assert.match(r.stdout, /rejected rows:\nline +key +code +reason/);
      assert.match(r.stdout, /^4 +K3 +DATA_BAD_VALUE +email \(E-mail\): expected an email address/m);
      const json = parse<{
        run: { status: string; rejected: number };
        rejects: { line: number; key: string }[];
      }>(await ferry(project.dir, ["--json", "runs", String(fieldRun)], env));
      assert.equal(json.run.status, "partial");
      assert.equal(json.run.rejected, 1);
      assert.deepEqual(
        json.rejects.map((x) => [x.line, x.key]),
        [[4, "K3"]],
      );
    });

    let conflictId = 0;
    test("conflicts list shows the flagged conflict", async () => {
      const r = await ferry(project.dir, ["conflicts", "list"], env);
      expectExit(r, 0);
      assert.match(
        r.stdout,
        /open +customer +K2 +phone +"\+1 555 0002" \(legacy\) +"\+1 999 0002" \(field\)/,
      );
      const json = parse<{ id: number; key: string; field: string; status: string }[]>(
        await ferry(project.dir, ["--json", "conflicts", "list"], env),
      );
      assert.deepEqual(
        json.map((c) => [c.key, c.field, c.status]),
        [["K2", "phone", "open"]],
      );
      conflictId = json[0]!.id;
    });

    test("conflicts resolve: --use and --value together is refused", async () => {
      const r = await ferry(
        project.dir,
        ["conflicts", "resolve", String(conflictId), "--use", "field", "--value", "x"],
        env,
      );
      expectExit(r, 2);
      assert.match(r.stderr, /exactly one of --use <source> or --value <value>/);
      const open = parse<unknown[]>(await ferry(project.dir, ["--json", "conflicts", "list"], env));
      assert.equal(open.length, 1, "still open");
    });

    test("conflicts resolve --use: exit 0, delivered; a second resolve exits 2", async () => {
      const r = await ferry(project.dir, ["conflicts", "resolve", String(conflictId), "--use", "field"], env);
      expectExit(r, 0);
      assert.match(
        r.stdout,
        new RegExp(
          `conflict #${conflictId} resolved: customer K2 phone "\\+1 555 0002" -> "\\+1 999 0002" \\(field\\); 1 outbox row\\(s\\) queued`,
        ),
      );
      const again = await ferry(
        project.dir,
        ["conflicts", "resolve", String(conflictId), "--use", "field"],
        env,
      );
      expectExit(again, 2);
      assert.match(again.stderr, /already resolved/);

      const d = await ferry(project.dir, ["deliver"], env);
      expectExit(d, 0);
      assert.equal(contact(emulator, "K2")?.phone, "+1 999 0002");
      assert.deepEqual(
        parse<unknown[]>(await ferry(project.dir, ["--json", "conflicts", "list"], env)),
        [],
        "no open conflict left",
      );
    });

    test("explain: value, source, rule, and what was pushed", async () => {
      const r = await ferry(project.dir, ["explain", "customer", "K2"], env);
      expectExit(r, 0);
      assert.match(r.stdout, /^customer K2: version \d+, active$/m);
      assert.match(r.stdout, /^email +"k2@field\.example" +field +priority +\d+/m);
      assert.match(r.stdout, /^name +"Name 2" +legacy +owner +1 /m);
      assert.match(r.stdout, /^phone +"\+1 999 0002" +field +operator /m);
      assert.match(r.stdout, /pushed:\ndestination +id +version +at +values\n[- ]+\nhubspot +\d+ /);
      const json = parse<{
        fields: Record<string, { value: unknown; source: string; rule: string }>;
        destinations: { destination: string; pushed: Record<string, unknown> }[];
      }>(await ferry(project.dir, ["--json", "explain", "customer", "K2"], env));
      assert.deepEqual(
        { value: json.fields.email?.value, source: json.fields.email?.source, rule: json.fields.email?.rule },
        { value: "k2@field.example", source: "field", rule: "priority" },
      );
      const pushed = json.destinations.find((d) => d.destination === "hubspot")?.pushed;
      assert.equal(pushed?.email, "k2@field.example");
      assert.equal(pushed?.phone, "+1 999 0002");
    });

    test("explain of an unknown key exits 2", async () => {
      const r = await ferry(project.dir, ["explain", "customer", "NOPE"], env);
      expectExit(r, 2);
      assert.match(r.stderr, /no customer with key NOPE/);
    });

    test("an unknown job exits 2 and lists the jobs", async () => {
      const r = await ferry(project.dir, ["run", "nightly"], env);
      expectExit(r, 2);
      assert.match(r.stderr, /no job named "nightly": the jobs are field, legacy/);
      assert.match(r.stderr, /\[CONFIG_UNKNOWN_JOB\]/);
    });

    test("run on a project that became invalid exits 2 and records no run", async () => {
      const before = await runs();
      project.legacy("UPDATE CUSTOMERS SET NAME = ? WHERE ID = ?", "Again", "K4");
      const r = await ferry(project.dir, ["run", "legacy"], { ...env, HUBSPOT_TOKEN: undefined });
      expectExit(r, 2);
      assert.match(r.stderr, /ferry\.yaml:\d+:\d+ \(destinations\.hubspot\.token\): environment variable/);
      assert.deepEqual(await runs(), before);
    });
  });

  describe("mass delete guard", { concurrency: false }, () => {
    let project: CliProject;
    let emulator: HubSpotEmulator;
    let env: Record<string, string>;
    before(async () => {
      project = createCliProject({ customers: 10 });
      emulator = await startEmulator();
      env = { HUBSPOT_BASE_URL: emulator.url, HUBSPOT_TOKEN: TOKEN };
      expectExit(await ferry(project.dir, ["run", "legacy"], env), 0);
    });
    after(async () => {
      await emulator.close();
      project.cleanup();
    });

    test("emptying most of the table: exit 3, MASS_DELETE_REFUSED, nothing deleted", async () => {
      project.legacy("DELETE FROM CUSTOMERS WHERE ID NOT IN ('K1', 'K2')");
      const r = await ferry(project.dir, ["run", "legacy"], env);
      expectExit(r, 3);
      assert.match(r.stdout, /: refused\. read 2 = unchanged 2/);
      assert.match(r.stdout, /error: this run would delete 8 of 10 records .*\[MASS_DELETE_REFUSED\]/);
      const json = parse<{ status: string; errorCode: string }>(
        await ferry(project.dir, ["--json", "run", "legacy"], env),
      );
      assert.deepEqual([json.status, json.errorCode], ["refused", "MASS_DELETE_REFUSED"]);
      assert.equal(emulator.records("contacts").length, 10);
      assert.equal(emulator.archived("contacts").length, 0);
    });

    test("--allow-mass-delete goes through", async () => {
      const r = await ferry(project.dir, ["run", "legacy", "--allow-mass-delete"], env);
      expectExit(r, 0);
      assert.match(r.stdout, /: succeeded\. read 2 = unchanged 2 .*; deleted 8,/);
      assert.match(r.stdout, /delivery to hubspot: created 0, updated 0, deleted 8, failed 0/);
      assert.deepEqual(
        emulator
          .records("contacts")
          .map((c) => c.properties.customer_no)
          .sort(),
        ["K1", "K2"],
      );
      assert.equal(emulator.archived("contacts").length, 8);
    });
  });

  describe("destination unreachable", { concurrency: false }, () => {
    let project: CliProject;
    let emulator: HubSpotEmulator | undefined;
    before(() => {
      project = createCliProject({ customers: 10 });
    });
    after(async () => {
      await emulator?.close();
      project.cleanup();
    });

    // A run against a closed port would spend max_attempts × the client's own retries before marking the
    // records dead (see the report): the outbox is written with --no-deliver, then delivered once HubSpot is up.
    test("run --no-deliver keeps the records pending; deliver sends them all once HubSpot is up", async () => {
      const down = { HUBSPOT_BASE_URL: await closedUrl(), HUBSPOT_TOKEN: TOKEN };
      const r = await ferry(project.dir, ["run", "legacy", "--no-deliver"], down);
      expectExit(r, 0);
      assert.match(r.stdout, /changed 10 .*outbox rows 10/);
      assert.doesNotMatch(r.stdout, /delivery to/);
      const pending = parse<RunsJson>(await ferry(project.dir, ["--json", "runs"], down));
      assert.equal(outboxBy(pending, "pending"), 10);

      emulator = await startEmulator();
      const up = { HUBSPOT_BASE_URL: emulator.url, HUBSPOT_TOKEN: TOKEN };
      const d = await ferry(project.dir, ["--json", "deliver"], up);
      expectExit(d, 0);
      const tally = parse<Record<string, { created: number; dead: number; pending: number }>>(d).hubspot;
      assert.deepEqual([tally?.created, tally?.dead, tally?.pending], [10, 0, 0]);
      assert.equal(emulator.records("contacts").length, 10);
      const done = parse<RunsJson>(await ferry(project.dir, ["--json", "runs"], up));
      assert.deepEqual([outboxBy(done, "pending"), outboxBy(done, "delivered")], [0, 10]);
    });
  });

  describe("a destination that stays down, or refuses the credentials: the command ends, the records stay pending", { concurrency: false }, () => {
    let project: CliProject;
    let emulator: HubSpotEmulator;
    before(async () => {
      project = createCliProject({ customers: 10 });
      emulator = await startEmulator();
    });
    after(async () => {
      await emulator.close();
      project.cleanup();
    });
    const pending = async (env: Record<string, string>) => outboxBy(parse<RunsJson>(await ferry(project.dir, ["--json", "runs"], env)), "pending");

    test("run --wait 2s against a HubSpot that answers 500 to everything: exit 4 within the wait, naming it, its error and the next try", async () => {
      emulator.faults.add({ type: "status", status: 500 }, { times: Infinity });
      const env = { HUBSPOT_BASE_URL: emulator.url, HUBSPOT_TOKEN: TOKEN };
      const started = Date.now();
      const r = await ferry(project.dir, ["run", "legacy", "--wait", "2s"], env, 45_000);
      expectExit(r, 4);
      assert.ok(Date.now() - started < 45_000);
      assert.match(r.stdout, /changed 10 .*outbox rows 10/);
      const said = `${r.stdout}${r.stderr}`;
      assert.match(said, /hubspot/);
      assert.match(said, /answered 500/);
      assert.match(said, /next try/);
      assert.equal(await pending(env), 10);
      emulator.faults.clear();
    });

    test("deliver --wait 2s against a closed port: exit 4, the records still pending", async () => {
      const env = { HUBSPOT_BASE_URL: await closedUrl(), HUBSPOT_TOKEN: TOKEN };
      const r = await ferry(project.dir, ["deliver", "--wait", "2s"], env, 45_000);
      expectExit(r, 4);
      assert.match(r.stderr, /hubspot .*DEST_UNREACHABLE.*ECONNREFUSED.*next try/s);
      assert.equal(await pending(env), 10);
    });

    test("a bad --wait is refused: exit 2", async () => {
      const r = await ferry(project.dir, ["deliver", "--wait", "soon"], { HUBSPOT_BASE_URL: emulator.url, HUBSPOT_TOKEN: TOKEN });
      expectExit(r, 2);
      assert.match(r.stderr, /--wait/);
    });

    test("deliver with a token HubSpot refuses: exit 5 at once, naming the secret to check; nothing blamed", async () => {
      const env = { HUBSPOT_BASE_URL: emulator.url, HUBSPOT_TOKEN: "a-token-revoked-yesterday" };
      const r = await ferry(project.dir, ["deliver"], env, 30_000);
      expectExit(r, 5);
      assert.match(r.stderr, /destinations\.hubspot\.token/);
      assert.match(r.stderr, /DEST_UNAUTHORIZED/);
      assert.equal(await pending(env), 10);
    });

    test("with the token fixed, the next deliver sends everything at once: exit 0", async () => {
      const env = { HUBSPOT_BASE_URL: emulator.url, HUBSPOT_TOKEN: TOKEN };
      const started = Date.now();
      const d = await ferry(project.dir, ["--json", "deliver"], env, 30_000);
      expectExit(d, 0);
      const tally = parse<Record<string, { created: number; pending: number }>>(d).hubspot;
      assert.deepEqual([tally?.created, tally?.pending], [10, 0]);
      assert.ok(Date.now() - started < 30_000);
      assert.equal(emulator.records("contacts").length, 10);
    });
  });
});
