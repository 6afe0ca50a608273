import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError } from "../../errors.ts";
import { type BrowserLookup, resolveBrowser } from "./browser.ts";
import { createPacer } from "./session.ts";

const lookup = (present: readonly string[], overrides: Partial<BrowserLookup> = {}): BrowserLookup => ({
  env: { PATH: "/usr/local/bin:/usr/bin" },
  playwrightPath: () => "/home/u/.cache/ms-playwright/chromium-1/chrome",
  isExecutable: (file) => present.includes(file),
  ...overrides,
});

const all = ["/opt/chromium/chrome", "/env/chrome", "/home/u/.cache/ms-playwright/chromium-1/chrome", "/usr/bin/chromium"];

test("the job's executable_path comes first", () => {
  assert.deepEqual(
    resolveBrowser(lookup(all, { configured: "/opt/chromium/chrome", env: { FERRY_CHROMIUM_PATH: "/env/chrome" } })),
    { path: "/opt/chromium/chrome", from: "config" },
  );
});

test("then FERRY_CHROMIUM_PATH, then Playwright's own browser, then chromium on PATH", () => {
  assert.deepEqual(resolveBrowser(lookup(all, { env: { FERRY_CHROMIUM_PATH: "/env/chrome", PATH: "/usr/bin" } })), {
    path: "/env/chrome",
    from: "FERRY_CHROMIUM_PATH",
  });
  assert.deepEqual(resolveBrowser(lookup(all)), {
    path: "/home/u/.cache/ms-playwright/chromium-1/chrome",
    from: "playwright",
  });
  assert.deepEqual(resolveBrowser(lookup(["/usr/bin/chromium"])), { path: "/usr/bin/chromium", from: "system" });
  assert.deepEqual(resolveBrowser(lookup(["/usr/local/bin/chromium-browser"], { playwrightPath: () => undefined })), {
    path: "/usr/local/bin/chromium-browser",
    from: "system",
  });
});

test("a path the user named that is missing is an error, not a silent fallback", () => {
  assert.throws(
    () => resolveBrowser(lookup(all, { configured: "/nowhere/chrome" })),
    (e) =>
      e instanceof ConfigError &&
      e.code === "SOURCE_SCRAPE_NO_BROWSER" &&
      e.message === "browser.executable_path names /nowhere/chrome, which is not an executable file: install Chromium there or fix the path",
  );
  assert.throws(
    () => resolveBrowser(lookup(all, { env: { FERRY_CHROMIUM_PATH: "/nowhere/chrome", PATH: "/usr/bin" } })),
    /FERRY_CHROMIUM_PATH names \/nowhere\/chrome/,
  );
});

test("no browser anywhere says what was tried and how to fix it", () => {
  assert.throws(
    () => resolveBrowser(lookup([])),
    (e) =>
      e instanceof ConfigError &&
      e.code === "SOURCE_SCRAPE_NO_BROWSER" &&
      /set browser\.executable_path in the job or FERRY_CHROMIUM_PATH, or install chromium/.test(e.message) &&
      e.message.includes("/home/u/.cache/ms-playwright/chromium-1/chrome"),
  );
});

test("the pacer spaces page loads by the rate, the first one at once", () => {
  let now = 1000;
  const pace = createPacer(2, () => now);
  assert.deepEqual([pace(), pace(), pace()], [0, 500, 1000]);
  now = 5000;
  assert.equal(pace(), 0, "a pause longer than the interval gives no credit, and no burst");
  assert.equal(pace(), 500);
});
