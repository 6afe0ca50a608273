/**
 * The operator console end to end, in real Chromium against a real `ferry serve` (console-fixture.ts): an
 * operator resolves a conflict and HubSpot gets the value, replays a dead letter and HubSpot gets the
 * record, finds a rejected row and downloads the rejects; a viewer sees no resolve button and is refused
 * the POST; a form on another origin is refused in the operator's own browser; markup in a value stays
 * text; five wrong passwords throttle a name; a user disabled with the CLI is signed out at the next page.
 * The tests run in order and share the server.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { Browser, BrowserContext, Dialog, Page } from "playwright";
import { addCounts, finishRun, startRun, zeroCounts } from "../../src/state/runs.repo.ts";
import { assertAvailable, skipUnlessRequired } from "../support/services.ts";
import { custId } from "../support/customers.ts";
import {
  chromiumMissing,
  type ConsoleFixture,
  DEAD_KEY,
  DEAD_LAST_NAME,
  FIELD_PHONES,
  launchChromium,
  MARKUP,
  OPERATOR,
  PASSWORD,
  REJECTED_KEYS,
  signIn,
  startConsoleFixture,
  until,
  VIEWER,
} from "./console-fixture.ts";

const missing = chromiumMissing();

/** What HubSpot (the emulator) holds for a customer, or undefined. */
const inHubSpot = (f: ConsoleFixture, key: string) => f.p.emulator.findBy("contacts", "customer_no", key);

const openConflicts = async (f: ConsoleFixture) => (await f.p.store.knex("conflicts").where({ status: "open" }).orderBy("id")) as { id: number; key: string }[];

/** The session's form token, as the page carries it (every signed-in page has one, in the sign-out form). */
const csrfOf = async (page: Page) => (await page.locator("input[name=_csrf]").first().getAttribute("value")) ?? "";

/** A page on another origin (127.0.0.1, another port) that posts a form to the console as soon as it loads. */
async function startForeignSite(form: () => string): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(form());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("the console in a browser", { skip: skipUnlessRequired(missing), timeout: 180_000 }, () => {
  let f: ConsoleFixture;
  let browser: Browser;
  let operator: BrowserContext;
  let viewer: BrowserContext;
  let op: Page;
  let view: Page;
  let foreign: Awaited<ReturnType<typeof startForeignSite>> | undefined;
  let foreignForm = "";
  const dialogs: string[] = [];
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(20_000);
    context.setDefaultNavigationTimeout(30_000);
    context.on("dialog", (d: Dialog) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      void d.dismiss().catch(() => {});
    });
    context.on("weberror", (e) => pageErrors.push(e.error().message));
    context.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(`${m.page()?.url()}: ${m.text()}`);
    });
    return context;
  }

  before(async () => {
    assertAvailable(missing);
    [f, browser] = await Promise.all([startConsoleFixture(), launchChromium()]);
    foreign = await startForeignSite(() => foreignForm);
    operator = await newContext();
    viewer = await newContext();
    op = await operator.newPage();
    view = await viewer.newPage();
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await foreign?.close();
    await f?.close();
  });

  it("sends the operator to the login page, and back where they were going once signed in", async () => {
    await op.goto(`${f.url}/conflicts`);
    assert.equal(new URL(op.url()).pathname, "/login");
    await op.getByLabel("User").fill(OPERATOR);
    await op.getByLabel("Password").fill(PASSWORD);
    await Promise.all([op.waitForURL(`${f.url}/conflicts`), op.getByRole("button", { name: "Sign in" }).click()]);
    await op.getByText(`${OPERATOR} (operator)`).waitFor();
    await signIn(view, f.url, VIEWER);
  });

  it("resolves a conflict in the console, and delivers the field team's value to HubSpot", async () => {
    const key = custId(1);
    assert.notEqual(inHubSpot(f, key)?.properties.phone, FIELD_PHONES[key], "HubSpot has the ERP's phone before");
    await op.getByRole("link", { name: "Conflicts" }).click();
    await op.getByRole("heading", { name: "Conflicts" }).waitFor();
    const row = op.locator("tr", { has: op.getByRole("link", { name: `customer ${key}` }) });
    await row.getByRole("checkbox").check();
    await op.getByLabel("Take the value of").selectOption("field_team");
    await op.getByRole("button", { name: "Take it for the selection" }).click();
    await op.getByText("1 conflict(s) resolved.").waitFor();
    assert.equal(await op.getByRole("link", { name: `customer ${key}` }).count(), 0, "no longer in the queue");
    const delivered = await until("HubSpot to get the field team's phone", 30_000, () =>
      inHubSpot(f, key)?.properties.phone === FIELD_PHONES[key] ? true : undefined,
    );
    assert.ok(delivered);
  });

  it("replays a dead letter, and the record is delivered to HubSpot", async () => {
    assert.equal(inHubSpot(f, DEAD_KEY), undefined, "HubSpot refused the record in the first run");
    await op.getByRole("link", { name: "Dead letters" }).click();
    const row = op.locator("tr", { has: op.getByRole("link", { name: `customer ${DEAD_KEY}` }) });
    await row.getByText("lastname").first().waitFor();
    await row.getByRole("checkbox").check();
    await op.getByRole("button", { name: "Replay the selection" }).click();
    await op.getByText("1 entry put back for delivery.").waitFor();
    await op.getByText("No open dead letter.").waitFor();
    const record = await until("HubSpot to get the replayed record", 30_000, () => inHubSpot(f, DEAD_KEY));
    assert.equal(record.properties.lastname, DEAD_LAST_NAME);
  });

  it("finds a rejected row of the field team's run by its key, and downloads the rejects as CSV", async () => {
    await op.getByRole("link", { name: "Runs" }).click();
    const run = op.locator("tbody tr", { hasText: "field-team" }).first();
    await run.getByText("partial").waitFor();
    await run.getByRole("link").first().click();
    await op.getByRole("heading", { name: /^Run \d+ of field-team$/ }).waitFor();
    await op.getByLabel("Key contains").fill(REJECTED_KEYS[0]);
    await op.getByRole("button", { name: "Search" }).click();
    await op.waitForURL(/\?key=NOT-A-KEY/);
    // The first table after the heading: the run's log follows in a table of its own.
    const rejects = op.locator("#rejects ~ table").first().locator("tbody tr");
    await rejects.filter({ hasText: REJECTED_KEYS[0] }).waitFor();
    assert.equal(await rejects.count(), 1, "only the row whose key matches");

    const link = op.getByRole("link", { name: "Download as CSV" });
    const href = new URL((await link.getAttribute("href"))!, op.url()).href;
    const answer = await op.request.get(href);
    assert.equal(answer.status(), 200);
    assert.match(answer.headers()["content-type"] ?? "", /^text\/csv/);
    const [download] = await Promise.all([op.waitForEvent("download"), link.click()]);
    const csv = await readFile((await download.path())!, "utf8");
    const lines = csv.trim().split("\n");
    assert.equal(lines[0], "line,key,code,reason");
    assert.deepEqual(lines.slice(1).map((l) => l.split(",")[1]).sort(), [...REJECTED_KEYS].sort());
  });

  it("follows a run in progress on its page (htmx) until it ends, without a reload", async () => {
    // A run row as a run in another process leaves it while it works: running, then counted and finished.
    const db = f.p.store.knex;
    const id = await startRun(db, "erp", "snapshot", new Date().toISOString());
    await op.goto(`${f.url}/runs/${id}`);
    await op.locator("#run").getByText("running", { exact: true }).waitFor();
    await op.evaluate(() => Object.assign(globalThis, { ferryNotReloaded: true }));
    await op.waitForRequest((r) => r.url() === `${f.url}/runs/${id}` && r.headers()["hx-request"] === "true");
    await addCounts(db, id, { ...zeroCounts(), read: 10, unchanged: 10 });
    await finishRun(db, id, "succeeded", new Date().toISOString());
    await op.locator("#run").getByText("succeeded", { exact: true }).waitFor();
    await op.locator("#run").getByText("read 10 = unchanged 10 + changed 0 + rejected 0 + filtered 0").waitFor();
    assert.equal(await op.evaluate(() => (globalThis as { ferryNotReloaded?: boolean }).ferryNotReloaded), true, "the page was not reloaded");
  });

  it("shows a viewer the queue without resolve buttons, and refuses the viewer's POST with 403", async () => {
    await view.getByRole("link", { name: "Conflicts" }).click();
    await view.getByRole("link", { name: `customer ${custId(2)}` }).waitFor();
    assert.equal(await view.getByRole("button", { name: /Take it|Keep the current|Set it/ }).count(), 0);
    assert.equal(await view.getByRole("checkbox").count(), 0);
    const before = await openConflicts(f);
    const answer = await view.request.post(`${f.url}/conflicts/resolve`, {
      form: { _csrf: await csrfOf(view), ids: String(before[0]!.id), action: "keep" },
      // The console's own origin, as a form of its page sends: what refuses it is the role.
      headers: { origin: f.url },
    });
    assert.equal(answer.status(), 403);
    assert.match(await answer.text(), /vic \(viewer\) may not resolve conflict/);
    assert.deepEqual(await openConflicts(f), before, "nothing resolved");
  });

  it("refuses a form that a page of another origin posts from the operator's browser", async () => {
    const before = await openConflicts(f);
    await op.goto(`${f.url}/conflicts`);
    // The form even carries the session's own token: the origin alone must stop it.
    foreignForm = `<!doctype html><form id="f" method="post" action="${f.url}/conflicts/resolve">
      <input name="_csrf" value="${await csrfOf(op)}" /><input name="ids" value="${before[0]!.id}" /><input name="action" value="keep" />
      </form><script>document.getElementById("f").submit()</script>`;
    const posted = op.waitForResponse((r) => r.url() === `${f.url}/conflicts/resolve` && r.request().method() === "POST");
    await op.goto(foreign!.url);
    const answer = await posted;
    assert.equal(answer.status(), 403);
    assert.equal(await answer.text(), "Forbidden", "refused by the same-origin check");
    assert.equal(answer.request().headers().origin, new URL(foreign!.url).origin, "Chromium sent the foreign origin");
    assert.deepEqual(await openConflicts(f), before, "nothing resolved");
  });

  it("shows a value holding markup as text on the record's page and the queue, and runs no script", async () => {
    await op.goto(`${f.url}/records/customer/${custId(3)}`);
    await op.getByRole("heading", { name: `customer ${custId(3)}` }).waitFor();
    await op.locator("main").getByText(MARKUP).first().waitFor();
    const width = await op.locator("html").evaluate((root: { scrollWidth: number; clientWidth: number }) => ({ page: root.scrollWidth, window: root.clientWidth }));
    assert.ok(width.page <= width.window, `the record's page fits the window's width (${width.page} > ${width.window})`);
    await op.goto(`${f.url}/conflicts`);
    await op.locator("main").getByText(MARKUP).first().waitFor();
    assert.deepEqual(dialogs, [], "no dialog opened");
  });

  it("answers 429 to the sixth sign-in after five wrong passwords, even with the right one", async () => {
    const context = await newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${f.url}/login`);
      const attempt = async (password: string) => {
        await page.getByLabel("User").fill(VIEWER);
        await page.getByLabel("Password").fill(password);
        const [answer] = await Promise.all([
          page.waitForResponse((r) => new URL(r.url()).pathname === "/login" && r.request().method() === "POST"),
          page.getByRole("button", { name: "Sign in" }).click(),
        ]);
        await page.getByRole("alert").waitFor();
        return { status: answer.status(), said: (await page.getByRole("alert").textContent()) ?? "" };
      };
      for (let i = 1; i <= 5; i++) {
        const wrong = await attempt(`not the password ${i}`);
        assert.deepEqual(wrong, { status: 401, said: "Wrong user or password, or the user is disabled." }, `attempt ${i}`);
      }
      const sixth = await attempt(PASSWORD);
      assert.equal(sixth.status, 429);
      assert.match(sixth.said, /^Too many failed sign-ins for this user: try again in \d+ s\.$/);
    } finally {
      await context.close();
    }
  });

  it("signs a user disabled with `ferry users disable` out at their next page", async () => {
    await view.goto(`${f.url}/runs`);
    await view.getByText(`${VIEWER} (viewer)`).waitFor();
    const disabled = await f.ferry(["users", "disable", VIEWER]);
    assert.equal(disabled.code, 0, disabled.stderr);
    await view.goto(`${f.url}/dead-letters`);
    assert.equal(new URL(view.url()).pathname, "/login");
    assert.equal(new URL(view.url()).searchParams.get("next"), "/dead-letters");
    await view.getByRole("heading", { name: "Sign in" }).waitFor();
    assert.deepEqual(pageErrors, [], "no script error on any page");
    // The browser logs each refusal the tests provoked (401, 403, 429); nothing else: no missing file, no CSP violation.
    const refusal = /Failed to load resource: the server responded with a status of (401|403|429)\b/;
    const unexpected = consoleErrors.filter((e) => !refusal.test(e));
    assert.deepEqual(unexpected, [], "no other error in the browser's console");
  });
});
