/**
 * Finding and launching Chromium: the only code that starts a browser. Headless, with the flags that keep a
 * server's Chromium quiet (no sandbox for containers, no GPU, no background updates or sync).
 */
import { accessSync, constants } from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import type * as Playwright from "playwright";
import type { Browser, BrowserType } from "playwright";
import { ConfigError, TransientError } from "../../errors.ts";

/**
 * Playwright is loaded on first use, not when the source registry is imported: it weighs some 30 MB of
 * heap that a process running only SQL and CSV jobs should not carry.
 */
let loaded: BrowserType | undefined;
function chromiumType(): BrowserType {
  loaded ??= (createRequire(import.meta.url)("playwright") as typeof Playwright).chromium;
  return loaded;
}

export type BrowserOrigin = "config" | "FERRY_CHROMIUM_PATH" | "playwright" | "system";

export interface FoundBrowser {
  path: string;
  from: BrowserOrigin;
}

export interface BrowserLookup {
  /** `browser.executable_path` of the job. */
  configured?: string | undefined;
  env: NodeJS.ProcessEnv;
  /** Where Playwright's own Chromium would be; it may not be installed. */
  playwrightPath?: () => string | undefined;
  isExecutable?: (file: string) => boolean;
}

export const SYSTEM_BROWSERS = ["chromium", "chromium-browser"] as const;

export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
] as const;

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function playwrightChromium(): string | undefined {
  try {
    return chromiumType().executablePath();
  } catch {
    return undefined;
  }
}

/**
 * The Chromium to run: the job's `executable_path`, else `$FERRY_CHROMIUM_PATH`, else Playwright's own
 * browser, else `chromium` on PATH. A path the user named that is not there is an error, never skipped:
 * falling back would run a browser they did not choose.
 */
export function resolveBrowser(lookup: BrowserLookup): FoundBrowser {
  const isExecutable = lookup.isExecutable ?? executable;
  const named = (file: string, from: "config" | "FERRY_CHROMIUM_PATH", where: string): FoundBrowser => {
    if (!isExecutable(file)) {
      throw new ConfigError(
        "SOURCE_SCRAPE_NO_BROWSER",
        `${where} names ${file}, which is not an executable file: install Chromium there or fix the path`,
      );
    }
    return { path: file, from };
  };
  if (lookup.configured) return named(lookup.configured, "config", "browser.executable_path");
  const fromEnv = lookup.env.FERRY_CHROMIUM_PATH;
  if (fromEnv) return named(fromEnv, "FERRY_CHROMIUM_PATH", "FERRY_CHROMIUM_PATH");
  const own = (lookup.playwrightPath ?? playwrightChromium)();
  if (own && isExecutable(own)) return { path: own, from: "playwright" };
  const dirs = (lookup.env.PATH ?? "").split(path.delimiter).filter(Boolean);
  for (const name of SYSTEM_BROWSERS) {
    for (const dir of dirs) {
      const file = path.join(dir, name);
      if (isExecutable(file)) return { path: file, from: "system" };
    }
  }
  throw new ConfigError(
    "SOURCE_SCRAPE_NO_BROWSER",
    `no Chromium found: set browser.executable_path in the job or FERRY_CHROMIUM_PATH, or install chromium (tried ${own ?? "Playwright's browser"} and ${SYSTEM_BROWSERS.join(", ")} on PATH)`,
  );
}

/** The browser the scrape source would use, or null: for tests and `ferry check` to say what is missing. */
export function findBrowser(env: NodeJS.ProcessEnv = process.env): FoundBrowser | null {
  try {
    return resolveBrowser({ env });
  } catch {
    return null;
  }
}

export interface LaunchOptions {
  executable: FoundBrowser;
  timeoutMs: number;
  /** Where downloads land: a temporary folder of the run. */
  downloadsPath: string;
  signal: AbortSignal;
}

/** The least time a Chromium start is given before it counts as failed. */
const LAUNCH_TIMEOUT_MS = 30_000;

/** Launches a headless Chromium; an abort closes it, failing whatever waits on it. */
export async function launchBrowser(options: LaunchOptions): Promise<Browser> {
  options.signal.throwIfAborted();
  let browser: Browser;
  try {
    browser = await chromiumType().launch({
      executablePath: options.executable.path,
      headless: true,
      args: [...CHROMIUM_FLAGS],
      downloadsPath: options.downloadsPath,
      // `browser.timeout_ms` bounds what the legacy app does (page loads, actions, downloads), not the start
      // of Chromium on this machine, which a loaded host can take seconds over: it gets a bound of its own.
      timeout: Math.max(options.timeoutMs, LAUNCH_TIMEOUT_MS),
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
  } catch (e) {
    throw new TransientError(
      "SOURCE_SCRAPE_BROWSER_FAILED",
      `Chromium (${options.executable.path}, from ${options.executable.from}) did not start: ${firstLine(e)}. Check it runs on this machine (\`${options.executable.path} --headless --version\`)`,
      { cause: e },
    );
  }
  const close = () => void browser.close().catch(() => {});
  if (options.signal.aborted) close();
  else options.signal.addEventListener("abort", close, { once: true });
  browser.once("disconnected", () => options.signal.removeEventListener("abort", close));
  return browser;
}

/** The first line of an error's message: Playwright appends call logs that are noise in a run's summary. */
export function firstLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.split("\n")[0]!.trim();
}
