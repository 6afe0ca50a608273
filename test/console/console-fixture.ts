/**
 * A project whose console has something to show, served by a real `ferry serve`: the end-to-end browser
 * tests (browser.test.ts) and the screenshots (screenshots.ts) both start from it.
 *
 * The HubSpot emulator runs in the calling process; everything else goes through the real CLI. `ferry run`
 * of the ERP job (HubSpot refusing one customer's last name, so that record is dead-lettered), then of the
 * field team's CSV (three phones that disagree with the ERP, opening conflicts, one of them markup, and two
 * rejected rows); `ferry users add` for an operator and a viewer; and `ferry serve`, delivering every
 * 500 ms, its console on a free port read from its banner.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { chromium, type Browser, type Page } from "playwright";
import { CHROMIUM_FLAGS, findBrowser } from "../../src/sources/scrape/browser.ts";
import { CLI, type CliResult, childEnv, exited, ferry, ferryWithInput, shown } from "../cli/project.ts";
import { custId, customer, customerMapping, customers, customerTable, erpSnapshotJob, fieldTeamCsv, fieldTeamJob } from "../support/customers.ts";
import { createTestProject, TEST_TOKEN, type TestProject } from "../support/project.ts";

export const PASSWORD = "correct horse battery staple";
export const OPERATOR = "olga";
export const VIEWER = "vic";
/** The field team's phone for customer 3: markup that must show as text. */
export const MARKUP = "<script>alert(1)</script>";
/** The customer whose last name HubSpot refuses during the first run: its only dead letter. */
const DEAD = 5;
export const DEAD_KEY = custId(DEAD);
export const DEAD_LAST_NAME = String(customer(DEAD).LAST_NM);
/** The field team's phones that disagree with the ERP's: one open conflict each. */
export const FIELD_PHONES: Readonly<Record<string, string>> = {
  [custId(1)]: "+49 170 1000001",
  [custId(2)]: "+49 170 1000002",
  [custId(3)]: MARKUP,
};
/** Keys of the field team's rejected rows (an e-mail address that is not one). */
export const REJECTED_KEYS = ["NOT-A-KEY", custId(4)] as const;

export interface ConsoleFixture {
  readonly p: TestProject;
  /** Where the console answers, e.g. http://127.0.0.1:41234. */
  readonly url: string;
  /** Runs the real CLI on the project, with the emulator's address and token. */
  ferry(args: readonly string[], input?: string): Promise<CliResult>;
  /** What `ferry serve` printed so far. */
  serveOutput(): string;
  /** Stops `ferry serve` (SIGTERM, then SIGKILL past a deadline), the emulator and the project. */
  close(): Promise<void>;
}

/** Resolves with the first value `check` returns that is not undefined (polled); fails past the deadline. */
export async function until<T>(
  what: string,
  deadlineMs: number,
  check: () => T | undefined | Promise<T | undefined>,
  everyMs = 50,
): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) assert.fail(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Why the browser tests cannot run here, or null. */
export function chromiumMissing(): string | null {
  return findBrowser() ? null : "no Chromium found: install chromium (Debian's package) or set FERRY_CHROMIUM_PATH";
}

/** Headless Chromium with the flags Ferry's scrape source uses (src/sources/scrape/browser.ts). */
export async function launchChromium(): Promise<Browser> {
  const found = findBrowser();
  if (!found) throw new Error(chromiumMissing()!);
  return chromium.launch({ executablePath: found.path, headless: true, args: [...CHROMIUM_FLAGS], timeout: 60_000 });
}

/** Signs in on the console's login page and waits for the page it leads to. */
export async function signIn(page: Page, url: string, name: string, password = PASSWORD): Promise<void> {
  await page.goto(`${url}/login?next=%2Fruns`);
  await page.getByLabel("User").fill(name);
  await page.getByLabel("Password").fill(password);
  await Promise.all([page.waitForURL(`${url}/runs`), page.getByRole("button", { name: "Sign in" }).click()]);
  await page.getByRole("heading", { name: "Runs" }).waitFor();
}

async function cli(dir: string, env: Record<string, string>, args: readonly string[], input?: string): Promise<CliResult> {
  return input === undefined ? ferry(dir, args, env) : ferryWithInput(dir, args, input, env);
}

/** Starts `ferry serve` and resolves with its console's URL once its banner says where. */
async function serve(dir: string, env: Record<string, string>, output: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [CLI, "--config", dir, "serve"], { cwd: dir, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.setEncoding("utf8").on("data", (s: string) => output.push(s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => output.push(s));
  try {
    const url = await until("the banner of ferry serve", 60_000, () => {
      if (child.exitCode !== null) assert.fail(`ferry serve exited ${child.exitCode}:\n${output.join("")}`);
      return /console at (http:\/\/127\.0\.0\.1:\d+)/.exec(output.join(""))?.[1];
    });
    return { child, url };
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
}

export async function startConsoleFixture(options: { customers?: number } = {}): Promise<ConsoleFixture> {
  const p = await createTestProject({
    backend: "sqlite",
    legacy: { CUSTOMERS: customerTable(customers(options.customers ?? 10)) },
    mappings: { customer: customerMapping({ fieldTeam: true }) },
    jobs: { erp: erpSnapshotJob(), "field-team": fieldTeamJob() },
    files: {
      "field-team.csv": fieldTeamCsv([
        ...Object.entries(FIELD_PHONES).map(([id, phone]) => ({ id, phone })),
        { id: REJECTED_KEYS[1], email: "not-an-email" },
        `${REJECTED_KEYS[0]},,bad-email,`,
      ]),
    },
    settings: { http: { listen: "127.0.0.1:0" }, serve: { delivery_every: "500ms" } },
  });
  const env = { HUBSPOT_BASE_URL: p.emulator.url, HUBSPOT_TOKEN: TEST_TOKEN };
  const output: string[] = [];
  let child: ChildProcess | undefined;
  const close = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited(child, 30_000, "ferry serve").catch(() => child!.kill("SIGKILL"));
    }
    await p.cleanup();
  };
  try {
    p.emulator.rejectValues("contacts", "lastname", [DEAD_LAST_NAME]);
    const erp = await cli(p.dir, env, ["run", "erp"]);
    p.emulator.rejectValues("contacts", "lastname", []);
    const dead = (await p.store.knex("dead_letters").whereNull("resolution")) as { key: string }[];
    assert.deepEqual(dead.map((d) => d.key), [DEAD_KEY], `the ERP run dead-lettered one customer\n${shown(erp)}`);
    const field = await cli(p.dir, env, ["run", "field-team"]);
    const open = (await p.store.knex("conflicts").where({ status: "open" })) as { key: string }[];
    assert.deepEqual(open.map((c) => c.key).sort(), Object.keys(FIELD_PHONES), `the field team's phones opened conflicts\n${shown(field)}`);
    for (const [name, role] of [[OPERATOR, "operator"], [VIEWER, "viewer"]] as const) {
      const added = await cli(p.dir, env, ["users", "add", name, "--role", role, "--password-stdin"], `${PASSWORD}\n`);
      assert.equal(added.code, 0, shown(added));
    }
    const started = await serve(p.dir, env, output);
    child = started.child;
    return {
      p,
      url: started.url,
      ferry: (args, input) => cli(p.dir, env, args, input),
      serveOutput: () => output.join(""),
      close,
    };
  } catch (e) {
    await close().catch(() => {});
    throw e;
  }
}
