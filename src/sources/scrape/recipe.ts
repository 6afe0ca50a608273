/**
 * Running a recipe's steps (goto, click, fill, select, wait_for, wait_for_network, script) and its export
 * download. Every step reports a failure in the recipe's terms: which step, which selector, on which page.
 */
import { copyFile, mkdir, open } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { Download, Page } from "playwright";
import { ConfigError, FatalError, FerryError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { firstLine } from "./browser.ts";
import type { ExportConfig, ScrapeStep } from "./scrape.config.ts";
import { isTimeout, pageTimeout, selectorNotFound } from "./scrape.errors.ts";
import type { Session } from "./session.ts";

/** What a step module receives besides the page: `export default async (page, context) => { ... }`. */
export interface ScrapeStepContext {
  /** The job's base_url. */
  baseUrl: string;
  /** Opens a URL relative to base_url the way the recipe does: paced, retried, signed in again if needed. */
  goto(url: string): Promise<void>;
  timeoutMs: number;
  signal: AbortSignal;
  log: Logger;
}

export type ScrapeStepModule = (page: Page, context: ScrapeStepContext) => Promise<void>;

export interface RecipeRun {
  session: Session;
  page: Page;
  /** Step modules are relative to this folder (the project's). */
  baseDir: string;
  baseUrl: string;
  signal: AbortSignal;
  log: Logger;
}

const scopeOf = (page: Page, frame: string | undefined) => (frame ? page.locator(frame).first().contentFrame() : page);

async function onElement(run: RecipeRun, label: string, selector: string, frame: string | undefined, work: () => Promise<unknown>) {
  try {
    await work();
  } catch (e) {
    if (!isTimeout(e)) throw e;
    throw selectorNotFound(selector, run.page.url(), label, { frame, timeoutMs: run.session.timeoutMs, cause: e });
  }
}

export async function runSteps(run: RecipeRun, steps: readonly ScrapeStep[]): Promise<void> {
  const { page, session } = run;
  for (const [index, step] of steps.entries()) {
    run.signal.throwIfAborted();
    const label = `steps[${index}]`;
    const scope = scopeOf(page, step.frame);
    if (step.goto !== undefined) {
      await session.load(page, step.goto);
    } else if (step.click !== undefined) {
      const selector = step.click;
      await session.act(page, scope.locator(selector).first(), selector, { frame: step.frame });
    } else if (step.fill !== undefined) {
      const selector = step.fill;
      await onElement(run, `${label} (fill)`, selector, step.frame, () => scope.locator(selector).first().fill(step.value ?? ""));
    } else if (step.select !== undefined) {
      const selector = step.select;
      await onElement(run, `${label} (select)`, selector, step.frame, () =>
        scope.locator(selector).first().selectOption(step.value ?? ""),
      );
    } else if (step.wait_for !== undefined) {
      const selector = step.wait_for;
      await onElement(run, `${label} (wait_for)`, selector, step.frame, () =>
        scope.locator(selector).first().waitFor({ state: "visible" }),
      );
    } else if (step.wait_for_network !== undefined) {
      try {
        await page.waitForLoadState("networkidle", { timeout: session.timeoutMs });
      } catch (e) {
        if (!isTimeout(e)) throw e;
        throw pageTimeout(page.url(), session.timeoutMs, 1, e);
      }
    } else if (step.script !== undefined) {
      await runModule(run, label, step.script);
    }
  }
}

async function runModule(run: RecipeRun, label: string, script: string): Promise<void> {
  const file = path.resolve(run.baseDir, script);
  let loaded: { default?: unknown };
  try {
    loaded = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (e) {
    throw new ConfigError(
      "SOURCE_SCRAPE_STEP_INVALID",
      `${label}: the step module ${file} cannot be loaded: ${firstLine(e)}`,
      undefined,
      { cause: e },
    );
  }
  if (typeof loaded.default !== "function") {
    throw new ConfigError(
      "SOURCE_SCRAPE_STEP_INVALID",
      `${label}: ${file} must have a default export: export default async (page, context) => { ... }`,
    );
  }
  const context: ScrapeStepContext = {
    baseUrl: run.baseUrl,
    goto: (url) => run.session.load(run.page, url),
    timeoutMs: run.session.timeoutMs,
    signal: run.signal,
    log: run.log,
  };
  try {
    await (loaded.default as ScrapeStepModule)(run.page, context);
  } catch (e) {
    if (e instanceof FerryError || run.signal.aborted) throw e;
    throw new FatalError(
      "SOURCE_SCRAPE_STEP_FAILED",
      `${label}: the step module ${script} failed on ${run.page.url()}: ${firstLine(e)}. Fix the module (the trace shows what it did); nothing was applied`,
      { cause: e },
    );
  }
}

/** The first bytes of an HTML page, where a CSV was expected: an error page served as the export. */
const HTML = /^\s*(<!doctype html|<html|<head|<body|<\?xml|<!--)/i;

/**
 * Clicks the export button and saves what it downloads in `workDir`. A download that is an HTML page is
 * copied into `artifactsDir` for the user to read, and fails the run.
 */
export async function downloadExport(
  run: RecipeRun,
  exp: ExportConfig,
  dirs: { workDir: string; artifactsDir: string },
): Promise<string> {
  const { page, session } = run;
  const scope = scopeOf(page, exp.frame);
  const attempt = async (): Promise<Download | null> => {
    const download = page.waitForEvent("download", { timeout: session.timeoutMs });
    const navigated = page.waitForEvent("load", { timeout: session.timeoutMs }).then(() => null);
    download.catch(() => {});
    navigated.catch(() => {});
    await session.throttle();
    await onElement(run, "export.click", exp.click, exp.frame, () => scope.locator(exp.click).first().click());
    try {
      return await Promise.race([download, navigated]);
    } catch (e) {
      if (!isTimeout(e)) throw e;
      throw new FatalError(
        "SOURCE_SCRAPE_NO_DOWNLOAD",
        `clicking export.click (${JSON.stringify(exp.click)}) on ${page.url()} started no download within ${session.timeoutMs} ms: check that it is the export button (see the screenshot); nothing was applied`,
        { cause: e },
      );
    }
  };
  const from = page.url();
  let download = await attempt();
  if (download === null && (await session.loginShown(page))) {
    await session.load(page, from);
    download = await attempt();
  }
  if (download === null) {
    throw new FatalError(
      "SOURCE_SCRAPE_NO_DOWNLOAD",
      `clicking export.click (${JSON.stringify(exp.click)}) opened ${page.url()} instead of downloading a file: check the selector and the steps before it (see the screenshot); nothing was applied`,
    );
  }
  const name = download.suggestedFilename().replace(/[^\w.-]+/g, "_") || "export.csv";
  const file = path.join(dirs.workDir, name);
  const failure = await download.failure();
  if (failure !== null) {
    throw new FatalError(
      "SOURCE_SCRAPE_DOWNLOAD_FAILED",
      `the export download (${name}) failed: ${failure}. Try again; if it keeps failing, check the app's export; nothing was applied`,
    );
  }
  await download.saveAs(file);
  const head = await readHead(file);
  if (head.length === 0) {
    throw new FatalError(
      "SOURCE_SCRAPE_EMPTY_PAGE",
      `the export (${name}) downloaded an empty file: the app failed to export; nothing was applied, so no record was deleted`,
    );
  }
  if (HTML.test(head)) {
    await mkdir(dirs.artifactsDir, { recursive: true });
    const kept = path.join(dirs.artifactsDir, `download-${name}`);
    await copyFile(file, kept);
    throw new FatalError(
      "SOURCE_SCRAPE_EXPORT_NOT_CSV",
      `the export downloaded an HTML page instead of a CSV file: the app most likely reported an error. Read it (download-${name} in the artifacts), fix the cause in the app or in the steps before the export, and run again. Nothing was applied`,
      { details: { download: kept } },
    );
  }
  return file;
}

async function readHead(file: string): Promise<string> {
  const handle = await open(file, "r");
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(512), 0, 512, 0);
    return buffer.subarray(0, bytesRead).toString("latin1").replace(/^\uFEFF|^\u00EF\u00BB\u00BF/, "");
  } finally {
    await handle.close();
  }
}
