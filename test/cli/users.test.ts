/**
 * `ferry users` and `ferry tokens`, end to end: the real CLI as a child process on a throwaway project,
 * its results checked through the identity layer the console uses (logging in, sessions, tokens) on the
 * same state file.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import os from "node:os";
import { after, before, describe, test } from "node:test";
import { logIn, sessionOf, tokenUser } from "../../src/console/auth/identity.ts";
import { openStateStore, type StateStore } from "../../src/state/store.ts";
import { type CliProject, type CliResult, CLI, childEnv, createCliProject, exited, ferry as ferryIn, ferryWithInput, shown, TOKEN } from "./project.ts";

const PASSWORD = "correct horse battery staple";
const ACTOR = `cli:${os.userInfo().username}`;

/** The project's ferry.yaml names HubSpot's URL and token: set, though these commands never call it. */
const ENV = { HUBSPOT_BASE_URL: "http://127.0.0.1:9", HUBSPOT_TOKEN: TOKEN };

const ferry = (dir: string, args: readonly string[]) => ferryIn(dir, args, ENV);
const ferryWith = (dir: string, args: readonly string[], input: string) => ferryWithInput(dir, args, input, ENV);

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

interface UserJson {
  id: number;
  name: string;
  role: string;
  disabled: boolean;
}

interface TokenJson {
  id: number;
  name: string;
  user: string;
  prefix: string;
  status: string;
  expires_at: string | null;
  token?: string;
}

/** `script` (util-linux) runs a command on a pseudo-terminal: the way to type into the password prompt. */
const noScript = spawnSync("script", ["--version"]).error ? "the `script` command (util-linux) is not installed" : false;

describe("ferry users and ferry tokens", { concurrency: false }, () => {
  let project: CliProject;
  let store: StateStore;
  before(async () => {
    project = createCliProject();
    const added = await ferryWith(project.dir, ["users", "add", "alice", "--role", "operator"], `${PASSWORD}\n`);
    expectExit(added, 0);
    assert.equal(added.stdout, "added user alice (operator)\n");
    store = await openStateStore({ path: project.stateFile }, project.dir);
  });
  after(async () => {
    await store?.close();
    project.cleanup();
  });

  test("users add reads the password from standard input; the user logs in with it", async () => {
    const r = await ferryWith(project.dir, ["--json", "users", "add", "bob", "--role", "viewer", "--password-stdin"], "bob's long password\r\nignored\n");
    expectExit(r, 0);
    assert.deepEqual({ ...parse<UserJson>(r), id: 0, created_at: "" }, { id: 0, name: "bob", role: "viewer", disabled: false, created_at: "" });
    assert.equal((await logIn(store.knex, "bob", "bob's long password", new Date())).kind, "ok");
    assert.equal((await logIn(store.knex, "alice", PASSWORD, new Date())).kind, "ok");
  });

  test("users list shows every user with role and status", async () => {
    const table = await ferry(project.dir, ["users", "list"]);
    expectExit(table, 0);
    assert.match(table.stdout, /^id\s+name\s+role\s+status\s+created_at$/m);
    assert.match(table.stdout, /alice\s+operator\s+active/);
    const json = await ferry(project.dir, ["--json", "users", "list"]);
    assert.deepEqual(parse<UserJson[]>(json).map((u) => [u.name, u.role, u.disabled]), [["alice", "operator", false], ["bob", "viewer", false]]);
  });

  test("refusals: a name taken, a role unknown, a short password, no password at all; exit 2, nothing added", async () => {
    const cases: [string[], string | undefined, string][] = [
      [["users", "add", "alice", "--role", "viewer"], `${PASSWORD}\n`, "USER_EXISTS"],
      [["users", "add", "carl", "--role", "root"], `${PASSWORD}\n`, "ROLE_UNKNOWN"],
      [["users", "add", "carl", "--role", "viewer"], "short\n", "PASSWORD_TOO_SHORT"],
      [["users", "add", "carl", "--role", "viewer"], undefined, "PASSWORD_MISSING"],
      [["users", "add", "carl", "--role", "viewer"], "\n", "PASSWORD_MISSING"],
      [["users", "disable", "nobody"], undefined, "USER_UNKNOWN"],
    ];
    for (const [args, input, code] of cases) {
      const r = input === undefined ? await ferry(project.dir, args) : await ferryWith(project.dir, args, input);
      expectExit(r, 2);
      assert.match(r.stderr, new RegExp(`\\[${code}\\]`), shown(r));
    }
    const r = await ferryWith(project.dir, ["--json", "users", "add", "carl", "--role", "viewer"], "short\n");
    assert.equal(parse<{ error: { code: string } }>(r).error.code, "PASSWORD_TOO_SHORT");
    assert.deepEqual(((await store.knex("users").pluck("name")) as string[]).sort(), ["alice", "bob"]);
  });

  test("users passwd sets a new password from standard input and ends the user's sessions", async () => {
    const before = await logIn(store.knex, "bob", "bob's long password", new Date());
    assert.equal(before.kind, "ok");
    const r = await ferryWith(project.dir, ["users", "passwd", "bob"], "bob's newer password\n");
    expectExit(r, 0);
    if (before.kind === "ok") assert.equal(await sessionOf(store.knex, before.sessionId, new Date()), null);
    assert.equal((await logIn(store.knex, "bob", "bob's long password", new Date())).kind, "refused");
    assert.equal((await logIn(store.knex, "bob", "bob's newer password", new Date())).kind, "ok");
  });

  test("tokens create prints the token once, on its own line, with a warning; it acts as its user", async () => {
    const r = await ferry(project.dir, ["tokens", "create", "--user", "alice", "--name", "nightly-export", "--expires", "90d"]);
    expectExit(r, 0);
    assert.match(r.stdout, /^ferry_[A-Za-z0-9_-]{43}\n$/);
    assert.match(r.stderr, /API token 1 \(nightly-export\) acts as alice, until \d{4}-.*shown only this once/);
    const token = r.stdout.trim();
    const user = await tokenUser(store.knex, `Bearer ${token}`, new Date());
    assert.equal(user?.name, "alice");
    assert.equal(user?.role, "operator");

    const list = await ferry(project.dir, ["tokens", "list"]);
    expectExit(list, 0);
    assert.match(list.stdout, new RegExp(`1\\s+nightly-export\\s+alice\\s+${token.slice(0, 12)}…\\s+active`));
    const json = await ferry(project.dir, ["--json", "tokens", "list"]);
    const [listed] = parse<TokenJson[]>(json);
    assert.equal(listed!.prefix, token.slice(0, 12));
    const days = (Date.parse(listed!.expires_at!) - Date.now()) / 86_400_000;
    assert.ok(days > 89.9 && days <= 90, `expires in ${days} days`);
    for (const shownList of [list.stdout, json.stdout]) assert.ok(!shownList.includes(token), "a list never shows the token");
  });

  test("tokens revoke refuses the token from then on; the list says revoked", async () => {
    const made = await ferry(project.dir, ["--json", "tokens", "create", "--user", "bob", "--name", "ci"]);
    expectExit(made, 0);
    const { id, token, expires_at } = parse<TokenJson>(made);
    assert.equal(expires_at, null);
    assert.equal((await tokenUser(store.knex, token!, new Date()))?.name, "bob");
    const r = await ferry(project.dir, ["tokens", "revoke", String(id)]);
    expectExit(r, 0);
    assert.equal(r.stdout, `revoked API token ${id} (ci, acting as bob)\n`);
    assert.equal(await tokenUser(store.knex, token!, new Date()), null);
    const list = parse<TokenJson[]>(await ferry(project.dir, ["--json", "tokens", "list", "--user", "bob"]));
    assert.deepEqual(list.map((t) => [t.id, t.status]), [[id, "revoked"]]);

    for (const [args, code] of [
      [["tokens", "revoke", "999"], "TOKEN_UNKNOWN"],
      [["tokens", "revoke", "abc"], "TOKEN_UNKNOWN"],
      [["tokens", "create", "--user", "nobody", "--name", "x"], "USER_UNKNOWN"],
      [["tokens", "create", "--user", "bob", "--name", "x", "--expires", "soon"], "CLI_BAD_OPTION"],
    ] as const) {
      const refused = await ferry(project.dir, args);
      expectExit(refused, 2);
      assert.match(refused.stderr, new RegExp(`\\[${code}\\]`));
    }
  });

  test("users disable ends the user's sessions, refuses their login and suspends their tokens", async () => {
    const session = await logIn(store.knex, "alice", PASSWORD, new Date());
    assert.equal(session.kind, "ok");
    const token = (await ferry(project.dir, ["tokens", "create", "--user", "alice", "--name", "dash"])).stdout.trim();
    const r = await ferry(project.dir, ["users", "disable", "alice"]);
    expectExit(r, 0);
    assert.match(r.stdout, /disabled alice: their sessions ended/);
    if (session.kind === "ok") assert.equal(await sessionOf(store.knex, session.sessionId, new Date()), null);
    assert.deepEqual(await logIn(store.knex, "alice", PASSWORD, new Date()), { kind: "refused" });
    assert.equal(await tokenUser(store.knex, token, new Date()), null);
    const users = parse<UserJson[]>(await ferry(project.dir, ["--json", "users", "list"]));
    assert.equal(users.find((u) => u.name === "alice")?.disabled, true);
    assert.match((await ferry(project.dir, ["users", "list"])).stdout, /alice\s+operator\s+disabled/);

    expectExit(await ferry(project.dir, ["users", "enable", "alice"]), 0);
    assert.equal((await tokenUser(store.knex, token, new Date()))?.name, "alice");
  });

  test("every change is audited as cli:<OS user>, without a password or token", async () => {
    const rows = (await store.knex("audit_log").orderBy("id")) as { actor: string; action: string; before: string | null; after: string | null }[];
    const byCli = rows.filter((r) => r.actor === ACTOR).map((r) => r.action);
    assert.deepEqual(byCli, [
      "user.add",
      "user.add",
      "user.passwd",
      "token.create",
      "token.create",
      "token.revoke",
      "token.create",
      "user.disable",
      "user.enable",
    ]);
    const text = JSON.stringify(rows);
    for (const secret of [PASSWORD, "bob's long password", "bob's newer password", "$argon2id$", "ferry_"]) {
      const found = secret === "ferry_" ? /"ferry_[A-Za-z0-9_-]{43}/.test(text) : text.includes(secret);
      assert.ok(!found, `no ${secret} in the audit log`);
    }
  });

  /** Runs `ferry users add <name>` on a pseudo-terminal, typing each answer when its question shows. */
  async function addOnTerminal(name: string, answers: readonly string[]): Promise<{ code: number | null; out: string }> {
    const command = [process.execPath, CLI, "--config", project.dir, "users", "add", name, "--role", "admin"].map((a) => `'${a}'`).join(" ");
    const child = spawn("script", ["-qec", command, "/dev/null"], { cwd: project.dir, env: childEnv(ENV), stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let asked = 0;
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      out += s;
      for (const question of [`New password for ${name}:`, "Again:"]) {
        if (s.includes(question) && asked < answers.length) child.stdin.write(`${answers[asked++]}\r`);
      }
    });
    child.stderr.on("data", (s: Buffer) => (out += s.toString()));
    const code = await exited(child, 30_000, "ferry users add on a terminal");
    return { code, out };
  }

  test("on a terminal, the password is asked for twice without echo", { skip: noScript }, async () => {
    const typed = "dora's terminal password";
    const { code, out } = await addOnTerminal("dora", [typed, typed]);
    assert.equal(code, 0, out);
    assert.match(out, /New password for dora: \r?\nAgain: \r?\nadded user dora \(admin\)/);
    assert.ok(!out.includes(typed), "the password is not echoed");
    assert.equal((await logIn(store.knex, "dora", typed, new Date())).kind, "ok");

    const mismatch = await addOnTerminal("eli", ["eli's terminal password", "eli's terminal passwort"]);
    assert.equal(mismatch.code, 2, mismatch.out);
    assert.match(mismatch.out, /the two passwords differ: nothing was changed.*\[PASSWORD_MISMATCH\]/);
    assert.equal(await store.knex("users").where({ name: "eli" }).first(), undefined);
  });
});
