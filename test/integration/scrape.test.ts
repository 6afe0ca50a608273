/**
 * The scrape source end to end, in real Chromium: jobs run through `runJob` against the legacy web app
 * fixture and deliver into the HubSpot emulator. Pagination both ways, details pages and iframes, the
 * export download, deletes, session expiry, and every way a scrape breaks: each fails with its code and
 * its artifacts, and applies nothing.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { before, describe, it, type TestContext } from "node:test";
import { type LegacyWebApp, type LegacyWebAppOptions, legacyCustomers, startLegacyWebApp } from "../../fixtures/legacy-web-app/server.ts";
import { FerryError } from "../../src/errors.ts";
import type { RunResult } from "../../src/runner/run-job.ts";
import { findBrowser } from "../../src/sources/scrape/browser.ts";
import { byCustomerNo } from "../support/customers.ts";
import { servicesRequired } from "../support/services.ts";
import { assertStatus, createTestProject, type TestProject } from "../support/project.ts";

const browser = findBrowser();
const skip = browser || servicesRequired ? false : "no Chromium found: install chromium or set FERRY_CHROMIUM_PATH";

const LOGIN = {
  url: "/login",
  username: "${file:secrets/legacy-user}",
  password: "${file:secrets/legacy-password}",
  username_field: "#username",
  password_field: "#password",
  submit: "#sign-in",
  success: "#logout",
  error: ".error",
};

const LISTING = {
  no: { attribute: "data-id", required: true },
  first: "td.first",
  last: "td.last",
  email: "td.email a",
};

const listingColumns = { customer_no: "no", first_name: "first", last_name: "last", email: "email" };

function mapping(columns: Record<string, unknown>) {
  return {
    entity: "customer",
    key: "customer_no",
    fields: {
      customer_no: { type: "string" },
      first_name: { type: "string" },
      last_name: { type: "string" },
      email: { type: "email" },
      phone: { type: "string" },
      segment: { type: "string" },
    },
    sources: { web: columns },
    destinations: {
      hubspot: {
        object: "contacts",
        match: { property: "customer_no" },
        fields: {
          customer_no: "customer_no",
          first_name: "firstname",
          last_name: "lastname",
          email: "email",
          phone: "phone",
          segment: "segment",
        },
      },
    },
  };
}

interface Scenario {
  app?: LegacyWebAppOptions;
  columns?: Record<string, unknown>;
  source?: Record<string, unknown>;
  password?: string;
  files?: Record<string, string>;
}

async function scenario(t: TestContext, options: Scenario = {}): Promise<{ app: LegacyWebApp; p: TestProject }> {
  const app = await startLegacyWebApp(options.app);
  t.after(() => app.close());
  const p = await createTestProject({
    backend: "sqlite",
    mappings: { customer: mapping(options.columns ?? listingColumns) },
    jobs: {
      web: {
        source: {
          type: "scrape",
          base_url: app.url,
          browser: { timeout_ms: 5000 },
          page_loads_per_second: 50,
          retries: { attempts: 2, backoff_ms: 50 },
          login: LOGIN,
          steps: [{ goto: "/customers" }],
          extract: { rows: "tr.customer", fields: LISTING, paginate: { next: "a.next" } },
          ...options.source,
        },
        mapping: "customer",
        as: "web",
        mode: "snapshot",
        batch_size: 20,
        deletes: { policy: "propagate" },
      },
    },
    files: {
      "secrets/legacy-user": "ferry\n",
      "secrets/legacy-password": `${options.password ?? "s3cret"}\n`,
      ...options.files,
    },
  });
  t.after(() => p.cleanup());
  return { app, p };
}

async function syncedOnce(p: TestProject, count: number) {
  assertStatus(await p.run("web"));
  await p.deliver();
  assert.equal(p.emulator.records("contacts").length, count);
}

/** Runs the job expecting it to fail with `code`, and checks it applied nothing and named its artifacts. */
async function failsWith(p: TestProject, code: string, artifacts: readonly string[]): Promise<FerryError> {
  const before = await p.tableCounts();
  const requests = p.emulator.requests.length;
  const result: RunResult = await p.run("web");
  assert.equal(result.status, "failed");
  assert.ok(result.error instanceof FerryError, String(result.error));
  assert.equal(result.error.code, code, result.error.message);
  const after = await p.tableCounts();
  assert.deepEqual({ ...after, runs: before.runs }, before, "nothing but the run's own row was written");
  await p.deliver();
  assert.equal(p.emulator.requests.length, requests, "nothing reached HubSpot");

  const files = (result.error.details.artifacts ?? []) as string[];
  assert.deepEqual(files.map((f) => path.basename(f)).sort(), [...artifacts].sort());
  const runsDir = path.join(p.dir, ".ferry", "runs", "web");
  for (const file of files) {
    assert.ok(file.startsWith(runsDir), `${file} is in the run's folder`);
    assert.ok(existsSync(file), `${file} exists`);
  }
  const row = await p.runRow(result.runId);
  assert.ok(row.error?.startsWith(`${code}: `));
  for (const file of files) assert.ok(row.error?.includes(file), "`ferry runs` names the artifacts");
  assert.ok(!row.error?.includes("s3cret"));
  return result.error;
}

describe("scrape source (real Chromium)", { skip }, () => {
  before(() => {
    if (!browser) assert.fail("FERRY_REQUIRE_SERVICES=1 but no Chromium was found: install chromium or set FERRY_CHROMIUM_PATH");
  });

  it("reads all 45 customers through the next links, retrying a page that failed", async (t) => {
    const { app, p } = await scenario(t, { app: { listFailures: 1 } });
    const result = await p.run("web");
    assertStatus(result);
    assert.equal(result.counts.read, 45);
    assert.equal(result.counts.changed, 45);
    await p.deliver();
    const records = byCustomerNo(p.emulator.records("contacts"));
    assert.equal(records.size, 45);
    assert.partialDeepStrictEqual(records.get("C0007")?.properties, {
      customer_no: "C0007",
      firstname: "First7",
      lastname: "Last7",
      email: "customer7@legacy.example",
    });
    assert.equal(app.stats.logins, 1);
    assert.equal(app.settings.listFailures, 0, "the failed page was the one retried");

    const again = await p.run("web");
    assertStatus(again);
    assert.equal(again.counts.unchanged, 45);
  });

  it("a customer removed from the app is deleted in HubSpot", async (t) => {
    const { app, p } = await scenario(t, { app: { customers: legacyCustomers(15) } });
    await syncedOnce(p, 15);
    app.customers = app.customers.filter((c) => c.id !== "C0013");
    const result = await p.run("web");
    assertStatus(result);
    assert.equal(result.counts.read, 14);
    assert.equal(result.counts.deleted, 1);
    await p.deliver();
    assert.equal(p.emulator.records("contacts").length, 14);
    assert.deepEqual(p.emulator.archived("contacts").map((r) => r.properties.customer_no), ["C0013"]);
  });

  it("reads numbered pages, each record's details page and the iframe inside it, after a step module", async (t) => {
    const { p } = await scenario(t, {
      app: { customers: legacyCustomers(12) },
      columns: { ...listingColumns, phone: "phone", segment: { from: "segment", transform: "lower" } },
      files: {
        "steps/open-customers.ts": `export default async (page, context) => {
  await page.locator("#nav-customers").click();
  await page.waitForLoadState();
  context.log.info("opened the customer list");
};
`,
      },
      source: {
        steps: [{ script: "steps/open-customers.ts" }, { wait_for: "table#customers" }],
        extract: {
          rows: "tr.customer",
          fields: { ...LISTING, no: { selector: "td.id", required: true } },
          details: {
            link: "a.details",
            fields: { phone: "dd.phone", segment: { frame: "iframe#classification", selector: ".segment", required: true } },
          },
          paginate: { url: "/customers?page={page}", last_page: "nav.pager .page" },
        },
      },
    });
    await syncedOnce(p, 12);
    const records = byCustomerNo(p.emulator.records("contacts"));
    assert.partialDeepStrictEqual(records.get("C0011")?.properties, {
      customer_no: "C0011",
      firstname: "First11",
      lastname: "Last11",
      email: "customer11@legacy.example",
      phone: "+49 30 1000011",
      segment: "government",
    });
    assert.equal(records.get("C0003")?.properties.segment, "retail");
  });

  it("fills and submits a search form, then waits for the network to settle", async (t) => {
    const { p } = await scenario(t, {
      source: {
        steps: [
          { goto: "/customers" },
          { fill: "#q", value: "First1" },
          { select: "#segment", value: "Retail" },
          { click: "#search-button" },
          { wait_for_network: "idle" },
        ],
      },
    });
    await syncedOnce(p, 3);
    assert.deepEqual([...byCustomerNo(p.emulator.records("contacts")).keys()].sort(), ["C0012", "C0015", "C0018"]);
  });

  it("downloads the app's CSV export and reads it with the CSV parser", async (t) => {
    const { app, p } = await scenario(t, {
      columns: { customer_no: "Customer No", first_name: "First Name", last_name: "Last Name", email: "E-mail", phone: "Phone" },
      source: { extract: undefined, export: { click: "#export" } },
    });
    await syncedOnce(p, 45);
    assert.equal(app.stats.exports, 1);
    assert.equal(byCustomerNo(p.emulator.records("contacts")).get("C0045")?.properties.phone, "+49 30 1000045");
  });

  it("signs in again when the session expires mid-run", async (t) => {
    const { app, p } = await scenario(t, { app: { sessionPageLimit: 3 } });
    await syncedOnce(p, 45);
    assert.ok(app.stats.logins >= 2, `signed in ${app.stats.logins} times`);
  });

  it("an interrupted run stops at once and applies nothing", async (t) => {
    const controller = new AbortController();
    const { p } = await scenario(t, {
      app: { listDelayMs: 60_000, onRequest: (_, route) => route === "/customers" && controller.abort(new Error("SIGTERM")) },
      source: { browser: { timeout_ms: 30_000 } },
    });
    const started = Date.now();
    const result = await p.run("web", { signal: controller.signal });
    assert.equal(result.status, "failed");
    assert.equal((result.error as FerryError).code, "RUN_INTERRUPTED");
    assert.ok(Date.now() - started < 15_000, "the run did not wait for the page's 30 s timeout");
    const counts = await p.tableCounts();
    assert.deepEqual([counts.snapshots, counts.golden, counts.outbox], [0, 0, 0]);
  });

  it("wrong credentials: SOURCE_SCRAPE_LOGIN_FAILED, with a screenshot and the page", async (t) => {
    const { app, p } = await scenario(t, { password: "wrong-password" });
    const error = await failsWith(p, "SOURCE_SCRAPE_LOGIN_FAILED", ["screenshot.png", "page.html"]);
    assert.match(error.message, /the app refused it, saying "Invalid user name or password\."/);
    assert.ok(!error.message.includes("wrong-password"));
    assert.equal(app.stats.failedLogins, 1);
  });

  it("a changed selector: SOURCE_SCRAPE_SELECTOR_NOT_FOUND, nothing deleted", async (t) => {
    const { app, p } = await scenario(t, {
      source: { extract: { rows: "tr.customer", fields: { ...LISTING, no: { selector: "td.id", required: true } } } },
    });
    await syncedOnce(p, 10);
    app.settings.changedMarkup = true;
    const error = await failsWith(p, "SOURCE_SCRAPE_SELECTOR_NOT_FOUND", ["screenshot.png", "page.html", "trace.zip"]);
    assert.match(error.message, /field "no" \(in none of 10 rows\): no element matches "td\.id" on http:\/\/127\.0\.0\.1:\d+\/customers/);
  });

  it("a page that never loads: SOURCE_SCRAPE_TIMEOUT after the retries", async (t) => {
    const { app, p } = await scenario(t, { source: { browser: { timeout_ms: 1000 } } });
    app.settings.listDelayMs = 30_000;
    const error = await failsWith(p, "SOURCE_SCRAPE_TIMEOUT", ["screenshot.png", "page.html", "trace.zip"]);
    assert.equal(error.kind, "transient");
    assert.match(error.message, /\/customers did not load within 1000 ms \(2 tries\): check that the app is up/);
  });

  it("an export that downloads an HTML page: SOURCE_SCRAPE_EXPORT_NOT_CSV, the page kept", async (t) => {
    const { p } = await scenario(t, {
      app: { exportBroken: true },
      columns: { customer_no: "Customer No" },
      source: { extract: undefined, export: { click: "#export" } },
    });
    const error = await failsWith(p, "SOURCE_SCRAPE_EXPORT_NOT_CSV", [
      "download-customers.csv",
      "screenshot.png",
      "page.html",
      "trace.zip",
    ]);
    assert.match(error.message, /downloaded an HTML page instead of a CSV file/);
  });

  it("a page that suddenly shows no rows: SOURCE_SCRAPE_EMPTY_PAGE, nothing deleted", async (t) => {
    const { app, p } = await scenario(t, { app: { customers: legacyCustomers(15) } });
    await syncedOnce(p, 15);
    app.settings.emptyList = true;
    const error = await failsWith(p, "SOURCE_SCRAPE_EMPTY_PAGE", ["screenshot.png", "page.html", "trace.zip"]);
    assert.match(error.message, /set extract\.allow_empty: true\. Nothing was applied, so no record was deleted/);
    assert.equal(p.emulator.records("contacts").length, 15);
    assert.equal(p.emulator.archived("contacts").length, 0);
  });
});
