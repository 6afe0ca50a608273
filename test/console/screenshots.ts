/**
 * `npm run screenshots`: pictures of the operator console for the README, taken from a real `ferry serve`
 * over the demo state of the browser tests (console-fixture.ts), signed in as an operator, in headless
 * Chromium at 1280x800. Writes docs/console/{runs,run,conflicts,record,dead-letters,jobs}.png; run it again
 * whenever the pages change.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Page } from "playwright";
import { custId } from "../support/customers.ts";
import { ROOT } from "../cli/project.ts";
import { DEAD_KEY, launchChromium, OPERATOR, signIn, startConsoleFixture } from "./console-fixture.ts";

const OUT = path.join(ROOT, "docs", "console");

/** Each picture: its file, the page, and what must show before it is taken. */
const SHOTS: readonly { file: string; open: (page: Page, url: string) => Promise<void> }[] = [
  { file: "runs.png", open: async (page, url) => {
    await page.goto(`${url}/runs`);
    await page.locator("tbody tr").first().waitFor();
  } },
  { file: "run.png", open: async (page, url) => {
    await page.goto(`${url}/runs?job=field-team`);
    await page.locator("tbody tr").first().getByRole("link").first().click();
    await page.getByRole("heading", { name: "Rejected rows" }).waitFor();
  } },
  { file: "conflicts.png", open: async (page, url) => {
    await page.goto(`${url}/conflicts`);
    await page.getByRole("button", { name: "Take it for the selection" }).waitFor();
  } },
  { file: "record.png", open: async (page, url) => {
    await page.goto(`${url}/records/customer/${custId(1)}`);
    await page.getByRole("heading", { name: "What each source says" }).waitFor();
  } },
  { file: "dead-letters.png", open: async (page, url) => {
    await page.goto(`${url}/dead-letters`);
    await page.getByRole("link", { name: `customer ${DEAD_KEY}` }).waitFor();
  } },
  { file: "jobs.png", open: async (page, url) => {
    await page.goto(`${url}/jobs`);
    await page.getByText("field-team").first().waitFor();
  } },
];

async function main() {
  const [fixture, browser] = await Promise.all([startConsoleFixture({ customers: 40 }), launchChromium()]);
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(20_000);
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`${page.url()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`${page.url()}: ${e.message}`));
    await signIn(page, fixture.url, OPERATOR);
    mkdirSync(OUT, { recursive: true });
    for (const shot of SHOTS) {
      await shot.open(page, fixture.url);
      await page.screenshot({ path: path.join(OUT, shot.file) });
      process.stdout.write(`${path.relative(ROOT, path.join(OUT, shot.file))}\n`);
    }
    if (problems.length) throw new Error(`the browser reported:\n${problems.join("\n")}`);
  } finally {
    await browser.close().catch(() => {});
    await fixture.close();
  }
}

await main();
