/**
 * The operator console through its routes (`app.request`), over a real project and state store: sign-in and
 * sessions, each page, the actions an operator takes (resolve conflicts, replay dead letters, trigger and
 * pause jobs) with their audit, the roles (a viewer reads but may not act: no button, and 403), the CSRF
 * guards (another origin, a form without the session's token), escaping, and the JSON API with tokens.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Hono } from "hono";
import { createConsoleApp } from "../../src/console/app.ts";
import { addUser, createToken } from "../../src/console/auth/identity.ts";
import type { Env } from "../../src/console/auth/middleware.ts";
import { silentLogger } from "../../src/log.ts";
import { m } from "../../src/metrics.ts";
import { listConflicts } from "../../src/state/conflicts.repo.ts";
import {
  custId,
  customer,
  customerMapping,
  customers,
  customerTable,
  erpSnapshotJob,
  fieldTeamCsv,
  fieldTeamJob,
} from "../support/customers.ts";
import { assertStatus, createTestProject, type TestProject } from "../support/project.ts";

const PASSWORD = "correct horse battery staple";
const ORIGIN = "http://console.test";

interface Browser {
  cookie: string;
  csrf: string;
}

describe("the operator console", () => {
  let p: TestProject;
  let app: Hono<Env>;
  const requested: string[] = [];
  let operator: Browser;
  let viewer: Browser;
  let operatorToken: string;
  let viewerToken: string;

  const get = (path: string, b?: Browser, headers: Record<string, string> = {}) =>
    app.request(`${ORIGIN}${path}`, { headers: { ...(b ? { cookie: b.cookie } : {}), ...headers } });
  const post = (path: string, b: Browser | undefined, form: Record<string, string | string[]>, headers: Record<string, string> = {}) => {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) for (const one of [v].flat()) body.append(k, one);
    return app.request(`${ORIGIN}${path}`, {
      method: "POST",
      body,
      headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN, ...(b ? { cookie: b.cookie } : {}), ...headers },
    });
  };
  const api = (method: string, path: string, token: string | null, json?: unknown) =>
    app.request(`${ORIGIN}/api/v1${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(json ? { "content-type": "application/json" } : {}) },
      ...(json ? { body: JSON.stringify(json) } : {}),
    });

  async function signIn(name: string): Promise<Browser> {
    const res = await post("/login", undefined, { name, password: PASSWORD, next: "/runs" });
    assert.equal(res.status, 303, await res.text());
    const set = res.headers.get("set-cookie") ?? "";
    assert.match(set, /HttpOnly/i);
    assert.match(set, /SameSite=Lax/i);
    const cookie = set.split(";")[0]!;
    const page = await (await get("/conflicts", { cookie, csrf: "" })).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
    assert.ok(csrf, "a page carries the session's form token");
    return { cookie, csrf };
  }

  before(async () => {
    p = await createTestProject({
      backend: "sqlite",
      legacy: { CUSTOMERS: customerTable(customers(10)) },
      mappings: { customer: customerMapping({ fieldTeam: true }) },
      jobs: { erp: erpSnapshotJob(), "field-team": fieldTeamJob() },
      files: {
        "field-team.csv": fieldTeamCsv([
          { id: custId(1), phone: "+49 170 1000001" },
          { id: custId(2), phone: "+49 170 1000002" },
          { id: custId(3), phone: "<script>alert(1)</script>" },
          "NOT-A-KEY,,bad-email,",
        ]),
      },
    });
    assertStatus(await p.run("erp"));
    await p.deliver();
    await p.run("field-team");
    const at = new Date();
    await addUser(p.store.knex, { name: "olga", role: "operator", password: PASSWORD }, "test", at);
    await addUser(p.store.knex, { name: "vic", role: "viewer", password: PASSWORD }, "test", at);
    operatorToken = (await createToken(p.store.knex, { user: "olga", name: "ci" }, "test", at)).token;
    viewerToken = (await createToken(p.store.knex, { user: "vic", name: "ci" }, "test", at)).token;
    app = createConsoleApp({
      project: p.project,
      store: p.store,
      log: silentLogger,
      secure: false,
      requestRun: async (job, reason) => {
        requested.push(`${job}: ${reason}`);
      },
    });
    operator = await signIn("olga");
    viewer = await signIn("vic");
  });
  after(() => p?.cleanup());

  it("sends a visitor without a session to the login page, and refuses a wrong password", async () => {
    const res = await get("/runs?job=erp");
    assert.equal(res.status, 302);
    assert.equal(res.headers.get("location"), "/login?next=%2Fruns%3Fjob%3Derp");
    const wrong = await post("/login", undefined, { name: "olga", password: "nope" });
    assert.equal(wrong.status, 401);
    assert.match(await wrong.text(), /Wrong user or password/);
  });

  it("lists runs, and shows a run with its accounting and its rejected rows, searchable and as CSV", async () => {
    const list = await (await get("/runs", viewer)).text();
    assert.match(list, /<a href="\/runs\/1">1<\/a>/);
    assert.match(list, /field-team/);
    const runs = (await p.store.knex("runs").orderBy("id")) as { id: number; job: string; rejected: number }[];
    const fieldRun = runs.find((r) => r.job === "field-team")!;
    const page = await (await get(`/runs/${fieldRun.id}`, viewer)).text();
    assert.match(page, /read \d+ = unchanged \d+ \+ changed \d+ \+ rejected \d+ \+ filtered \d+/);
    assert.doesNotMatch(page, /does not hold/);
    assert.match(page, /NOT-A-KEY|bad-email/);
    const searched = await (await get(`/runs/${fieldRun.id}?key=no-such-key`, viewer)).text();
    assert.match(searched, /No rejected row/);
    const csv = await get(`/runs/${fieldRun.id}/rejects.csv`, viewer);
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get("content-type") ?? "", /text\/csv/);
    assert.match((await csv.text()).split("\n")[0]!, /^line,key,code,reason$/);
  });

  it("renders a record value that holds markup as text", async () => {
    const page = await (await get(`/records/customer/${custId(3)}`, viewer)).text();
    assert.doesNotMatch(page, /<script>alert\(1\)<\/script>/);
    assert.match(page, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    const conflicts = await (await get("/conflicts", viewer)).text();
    assert.doesNotMatch(conflicts, /<script>alert/);
  });

  it("lets a viewer read the conflicts queue but not resolve: no button, and the POST is refused", async () => {
    const page = await (await get("/conflicts", viewer)).text();
    assert.match(page, /phone/);
    assert.doesNotMatch(page, /Take it for the selection/);
    const open = await listConflicts(p.store.knex, { status: "open" });
    const res = await post("/conflicts/resolve", viewer, { _csrf: viewer.csrf, ids: String(open[0]!.id), action: "keep" });
    assert.equal(res.status, 403);
    assert.equal((await listConflicts(p.store.knex, { status: "open" })).length, open.length, "nothing resolved");
  });

  it("refuses a viewer's replay or discard of dead letters", async () => {
    for (const action of ["replay", "discard"]) {
      const res = await post("/dead-letters/act", viewer, { _csrf: viewer.csrf, action, ids: "1" });
      assert.equal(res.status, 403);
      assert.match(await res.text(), new RegExp(`vic \\(viewer\\) may not ${action} dead letter`));
    }
  });

  it("refuses a form from another origin, and a form without the session's token", async () => {
    const open = await listConflicts(p.store.knex, { status: "open" });
    const id = String(open[0]!.id);
    const foreign = await post("/conflicts/resolve", operator, { _csrf: operator.csrf, ids: id, action: "keep" }, { origin: "http://evil.example" });
    assert.equal(foreign.status, 403);
    const tokenless = await post("/conflicts/resolve", operator, { ids: id, action: "keep" });
    assert.equal(tokenless.status, 403);
    assert.equal((await listConflicts(p.store.knex, { status: "open" })).length, open.length, "nothing resolved");
  });

  it("lets an operator resolve a selection of conflicts at once, audited under their name", async () => {
    const open = await listConflicts(p.store.knex, { status: "open" });
    const picked = open.filter((c) => c.key === custId(1) || c.key === custId(2)).map((c) => String(c.id));
    assert.equal(picked.length, 2);
    const res = await post("/conflicts/resolve", operator, { _csrf: operator.csrf, ids: picked, action: "use", use: "field_team" });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /2 conflict\(s\) resolved/);
    const resolved = await listConflicts(p.store.knex, { status: "resolved" });
    assert.deepEqual(resolved.map((c) => c.key).sort(), [custId(1), custId(2)]);
    for (const c of resolved) assert.equal(c.resolution?.by, "user:olga");
    const audit = (await p.store.knex("audit_log").where({ action: "conflict.resolve" })) as { actor: string }[];
    assert.ok(audit.length >= 2 && audit.every((a) => a.actor === "user:olga"));
    const history = await (await get("/conflicts?status=resolved", viewer)).text();
    assert.match(history, /user:olga/);
    // And the record's page shows the decision.
    const record = await (await get(`/records/customer/${custId(1)}`, viewer)).text();
    assert.match(record, /\+49 170 1000001/);
    assert.match(record, /conflict\.resolve/);
    void customer;
  });

  it("triggers a run through the service, and pauses and resumes a schedule, audited", async () => {
    const refused = await post("/jobs/erp/runs", viewer, { _csrf: viewer.csrf });
    assert.equal(refused.status, 403);
    const res = await post("/jobs/erp/runs", operator, { _csrf: operator.csrf });
    assert.equal(res.status, 202);
    assert.deepEqual(requested, ["erp: trigger by user:olga"]);
    const paused = await post("/jobs/erp/pause", operator, { _csrf: operator.csrf });
    assert.match(await paused.text(), /The schedule of erp is paused/);
    assert.ok(await p.store.knex("schedule_pauses").where({ job: "erp" }).first());
    const jobs = await (await get("/jobs", viewer)).text();
    assert.match(jobs, /paused by user:olga/);
    await post("/jobs/erp/resume", operator, { _csrf: operator.csrf });
    assert.equal(await p.store.knex("schedule_pauses").where({ job: "erp" }).first(), undefined);
    const audit = ((await p.store.knex("audit_log").whereIn("action", ["schedule.pause", "schedule.resume"])) as { action: string }[]).map((a) => a.action);
    assert.deepEqual(audit, ["schedule.pause", "schedule.resume"]);
  });

  it("serves the destinations and audit pages, htmx, the stylesheet and an empty icon", async () => {
    m.breakerOpen.set({ destination: "hubspot" }, 1);
    const destinations = await (await get("/destinations", viewer)).text();
    assert.match(destinations, /hubspot/);
    assert.match(destinations, /<span class="bad">open<\/span>/, "this worker's breaker of hubspot, open");
    m.breakerOpen.set({ destination: "hubspot" }, 0);
    const audit = await (await get("/audit", viewer)).text();
    assert.match(audit, /conflict\.resolve/);
    // A record's decisions link to its page; a console user's sign-in has no record page to link to.
    assert.match(audit, new RegExp(`<a href="/records/customer/${custId(1)}">customer ${custId(1)}</a>`));
    assert.match(audit, /user\.login/);
    assert.match(audit, /<td>user olga<\/td>/);
    assert.doesNotMatch(audit, /href="\/records\/user\//);
    const js = await get("/static/htmx.min.js");
    assert.equal(js.status, 200);
    assert.ok((await js.text()).length > 10_000);
    assert.equal((await get("/static/style.css")).status, 200);
    assert.equal((await get("/favicon.ico")).status, 204, "no icon, and no 404 for a browser's request for one");
  });

  describe("the JSON API", () => {
    it("answers 401 without a valid token", async () => {
      const res = await api("GET", "/runs", null);
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, "AUTH_REQUIRED");
      assert.equal((await api("GET", "/runs", "ferry_not-a-token")).status, 401);
    });

    it("reads runs, a run, conflicts, a record, dead letters and jobs", async () => {
      const runs = (await (await api("GET", "/runs?job=erp", viewerToken)).json()) as { runs: { id: number; job: string }[] };
      assert.ok(runs.runs.length >= 1 && runs.runs.every((r) => r.job === "erp"));
      const run = (await (await api("GET", `/runs/${runs.runs[0]!.id}`, viewerToken)).json()) as { accounted: boolean };
      assert.equal(run.accounted, true);
      assert.equal((await api("GET", "/runs/99999", viewerToken)).status, 404);
      const conflicts = (await (await api("GET", "/conflicts", viewerToken)).json()) as { conflicts: unknown[] };
      assert.ok(Array.isArray(conflicts.conflicts));
      const record = (await (await api("GET", `/records/customer/${custId(5)}`, viewerToken)).json()) as { key: string };
      assert.equal(record.key, custId(5));
      assert.equal((await api("GET", "/records/customer/nobody", viewerToken)).status, 404);
      assert.ok(Array.isArray(((await (await api("GET", "/dead-letters", viewerToken)).json()) as { dead_letters: unknown[] }).dead_letters));
      const jobs = (await (await api("GET", "/jobs", viewerToken)).json()) as { jobs: { name: string }[] };
      assert.deepEqual(jobs.jobs.map((j) => j.name).sort(), ["erp", "field-team"]);
    });

    it("refuses a mutation to a viewer's token with 403, and lets an operator's resolve a conflict", async () => {
      const [open] = await listConflicts(p.store.knex, { status: "open" });
      assert.ok(open, "an open conflict is left");
      const refused = await api("POST", `/conflicts/${open.id}/resolve`, viewerToken, { keep: true });
      assert.equal(refused.status, 403);
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, "ROLE_FORBIDDEN");
      const bad = await api("POST", `/conflicts/${open.id}/resolve`, operatorToken, { nonsense: 1 });
      assert.equal(bad.status, 400);
      const ok = await api("POST", `/conflicts/${open.id}/resolve`, operatorToken, { keep: true });
      assert.equal(ok.status, 200, await ok.clone().text());
      const again = await api("POST", `/conflicts/${open.id}/resolve`, operatorToken, { keep: true });
      assert.equal(again.status, 409);
      const triggered = await api("POST", "/jobs/field-team/runs", operatorToken);
      assert.equal(triggered.status, 202);
      assert.equal((await api("POST", "/jobs/nope/runs", operatorToken)).status, 404);
    });
  });
});
