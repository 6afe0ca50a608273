/**
 * ferry.yaml's `alerts:` as the loader takes it: every mistake a ConfigError naming ferry.yaml, its line
 * and field (a rule's unknown channel, job or destination, two rules of one name, a late rule on a job
 * without schedule, a literal secret); its channels are system blocks, whose references resolve only when
 * `ferry serve` talks to them (`ferry validate` and serve check them; other commands need none).
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type CliProject, createCliProject, FERRY_YAML, lineOf, TOKEN } from "../../test/cli/project.ts";
import { allSystems, requireSystems } from "../config/systems.ts";
import { ConfigError } from "../errors.ts";
import { loadProject, validateProject } from "../project.ts";

const ENV = { HUBSPOT_BASE_URL: "http://127.0.0.1:9", HUBSPOT_TOKEN: TOKEN };

const CHANNELS = `alerts:
  channels:
    ops:
      type: webhook
      url: https://\${env:HOOK_HOST}/ferry
      secret: \${env:ALERT_SECRET}
    team:
      type: slack
      url: \${env:SLACK_URL}
    oncall:
      type: email
      host: smtp.example.com
      user: \${env:SMTP_USER}
      password: \${file:smtp-password.txt}
      from: Ferry <ferry@example.com>
      to: [oncall@example.com]
`;

describe("alerts: in ferry.yaml", () => {
  let project: CliProject;
  const file = () => path.join(project.dir, "ferry.yaml");
  const write = (alerts: string) => {
    const text = `${FERRY_YAML}${alerts}`;
    project.write("ferry.yaml", text);
    return text;
  };
  /** The problems `ferry validate` would list: `line:column path code`. */
  const problems = () => validateProject(file(), ENV).errors.map((e) => `${e.location?.line}:${e.location?.column} ${e.location?.path} ${e.code}`);
  before(() => {
    project = createCliProject({ customers: 1 });
  });
  after(() => project.cleanup());

  test("a rule naming an unknown channel is refused at its line", () => {
    const text = write(`${CHANNELS}  rules:
    - when: run_failed
      channels: [ops, pager]
`);
    assert.throws(
      () => loadProject(file(), ENV),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.code === "CONFIG_UNKNOWN_CHANNEL" &&
        e.message ===
          `ferry.yaml:${lineOf(text, "channels: [ops, pager]")}:23 (alerts.rules[0].channels[1]): no channel named "pager" under alerts.channels: the channels are ops, team, oncall`,
    );
  });

  test("unknown jobs and destinations, two rules of one name, a late rule on an unscheduled job: each at its line", () => {
    const text = write(`${CHANNELS}  rules:
    - when: run_failed
      jobs: [legacy, nightly]
      channels: [ops]
    - when: run_failed
      channels: [team]
    - when: job_late
      name: late
      jobs: [legacy]
      channels: [oncall]
    - when: dead_letters_above
      destinations: [crm]
      channels: [ops]
`);
    const line = (needle: string, from = 0) => text.split("\n").findIndex((l, i) => i >= from && l.includes(needle)) + 1;
    assert.deepEqual(problems(), [
      `${line("jobs: [legacy, nightly]")}:22 alerts.rules[0].jobs[1] CONFIG_UNKNOWN_JOB`,
      `${line("when: run_failed", line("channels: [ops]", line("nightly")))}:7 alerts.rules[1].when CONFIG_INVALID`,
      `${line("jobs: [legacy]")}:14 alerts.rules[2].jobs[0] CONFIG_INVALID`,
      `${line("destinations: [crm]")}:22 alerts.rules[3].destinations[0] CONFIG_UNKNOWN_DESTINATION`,
      // The channels' references: checked by validate (and serve), not by the loader.
      `${line("url: https://${env:HOOK_HOST}")}:7 alerts.channels.ops.url CONFIG_SECRET_UNRESOLVED`,
      `${line("secret: ${env:ALERT_SECRET}")}:7 alerts.channels.ops.secret CONFIG_SECRET_UNRESOLVED`,
      `${line("url: ${env:SLACK_URL}")}:7 alerts.channels.team.url CONFIG_SECRET_UNRESOLVED`,
      `${line("user: ${env:SMTP_USER}")}:7 alerts.channels.oncall.user CONFIG_SECRET_UNRESOLVED`,
      `${line("password: ${file:smtp-password.txt}")}:7 alerts.channels.oncall.password CONFIG_SECRET_UNRESOLVED`,
    ]);
    const v = validateProject(file(), ENV);
    assert.match(v.errors[1]!.message, /rules 1 and 2 are both named "run_failed": give each its own `name:`/);
    assert.match(v.errors[2]!.message, /job legacy has no schedule: it cannot be late/);
  });

  test("the channels' references resolve only for what talks to them: loading needs none, serve's check all", () => {
    write(`${CHANNELS}  rules:
    - when: run_failed
      channels: [ops, team, oncall]
`);
    const loaded = loadProject(file(), ENV);
    assert.equal(loaded.config.alerts?.channels.ops?.type, "webhook");
    assert.deepEqual([...(loaded.systems.channels?.keys() ?? [])], ["ops", "team", "oncall"]);
    assert.throws(
      () => requireSystems(loaded, allSystems(loaded.systems)),
      /ferry\.yaml:\d+:\d+ \(alerts\.channels\.ops\.url\): environment variable HOOK_HOST is not set/,
    );
    project.write("smtp-password.txt", "smtp-password-0123\n");
    const env = { ...ENV, HOOK_HOST: "hooks.example.com", ALERT_SECRET: "s3cret-0123", SLACK_URL: "https://hooks.slack.com/services/T/B/X", SMTP_USER: "ferry" };
    const resolved = loadProject(file(), env);
    requireSystems(resolved, allSystems(resolved.systems));
    assert.deepEqual(validateProject(file(), env).errors, []);
  });

  test("schema mistakes: a literal secret, a rule's unknown key, an unknown when, half a login", () => {
    const full = write(`alerts:
  channels:
    ops:
      type: webhook
      url: https://hooks.example.com/ferry
      secret: hunter2-literal
    mail:
      type: email
      host: smtp.example.com
      user: \${env:SMTP_USER}
      from: ferry@example.com
      to: [not-an-address]
  rules:
    - when: run_failed
      threshold: 3
      channels: [ops]
    - when: sync_failed
      channels: [ops]
`);
    const v = validateProject(file(), ENV);
    assert.equal(v.errors.length, 1);
    const issues = (v.errors[0]!.details.issues as { line: number; path: string; message: string }[]).map((i) => `${i.line} ${i.path}: ${i.message}`);
    assert.deepEqual(issues, [
      `${lineOf(full, "secret: hunter2")} alerts.channels.ops.secret: a literal secret is not allowed here: write a reference such as \${env:NAME} or \${file:path}`,
      `${lineOf(full, "user: ${env:SMTP_USER}")} alerts.channels.mail.user: give both user and password, or neither`,
      `${lineOf(full, "to: [not-an-address]")} alerts.channels.mail.to[0]: expected an email address, got "not-an-address"`,
      `${lineOf(full, "threshold: 3")} alerts.rules[0].threshold: unknown key "threshold"; allowed keys: when, name, jobs, channels`,
      `${lineOf(full, "when: sync_failed")} alerts.rules[1].when: expected one of run_failed, job_late, destination_down, dead_letters_above, conflicts_opened_above, file_failed, got "sync_failed"`,
    ]);
    assert.ok(!JSON.stringify(v.errors).includes("hunter2"), "the literal secret is not echoed");
  });
});
