/**
 * The `scrape` source's read: launches its own headless browser with a fresh context, signs in, runs the
 * recipe's steps, then either extracts rows from the pages or downloads the app's CSV export and reads it
 * with the CSV source. A read that fails part-way leaves a screenshot, the page's HTML and a trace in the
 * run's folder, named in the error.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright";
import type { Logger } from "../../log.ts";
import type { CsvSourceConfig } from "../csv/csv.config.ts";
import type { ReadRequest, Source, SourceBatch } from "../source.ts";
import { attachArtifacts, saveArtifacts } from "./artifacts.ts";
import { launchBrowser, resolveBrowser } from "./browser.ts";
import { extractRecords } from "./extract.ts";
import { downloadExport, type RecipeRun, runSteps } from "./recipe.ts";
import type { ScrapeSourceConfig } from "./scrape.config.ts";
import { asFerryError, emptyPage } from "./scrape.errors.ts";
import { Session, type SessionOptions } from "./session.ts";

/** A scrape source's settings, as its factory worked them out from the job and the run's context. */
export interface Scraper {
  config: ScrapeSourceConfig;
  credentials: SessionOptions["credentials"];
  /** The project's folder, which step modules are found relative to. */
  baseDir: string;
  /** Where a failed read leaves its screenshot, HTML and trace. */
  artifactsDir: string;
  log: Logger;
  /** The CSV source that reads a downloaded export, `file` in `workDir`, as the recipe's `csv` says. */
  exportSource: (csv: Omit<CsvSourceConfig, "type" | "path">, file: string, workDir: string) => Source;
}

export async function* readScrape(scraper: Scraper, req: ReadRequest): AsyncGenerator<SourceBatch> {
  const { config, log } = scraper;
  const executable = resolveBrowser({ configured: config.browser.executable_path, env: process.env });
  const workDir = await mkdtemp(path.join(os.tmpdir(), "ferry-scrape-"));
  let browser: Browser | null = null;
  let browserContext: BrowserContext | null = null;
  let page: Page | null = null;
  let session: Session | null = null;
  try {
    browser = await launchBrowser({ executable, timeoutMs: config.browser.timeout_ms, downloadsPath: workDir, signal: req.signal });
    browserContext = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    browserContext.setDefaultTimeout(config.browser.timeout_ms);
    browserContext.setDefaultNavigationTimeout(config.browser.timeout_ms);
    page = await browserContext.newPage();
    session = new Session({ config, context: browserContext, credentials: scraper.credentials, signal: req.signal, log });
    const run: RecipeRun = { session, page, baseDir: scraper.baseDir, baseUrl: config.base_url, signal: req.signal, log };
    await session.login(page);
    await session.startTracing();
    await runSteps(run, config.steps);
    if (config.extract) {
      yield* extractRecords(run, config.extract, req.batchSize);
    } else if (config.export) {
      const file = await downloadExport(run, config.export, { workDir, artifactsDir: scraper.artifactsDir });
      let rows = 0;
      for await (const batch of scraper.exportSource(config.export.csv, file, workDir).read(req)) {
        rows += batch.rows.length + batch.rejects.length;
        yield batch;
      }
      if (rows === 0) throw emptyPage("the export", page.url(), null);
    }
  } catch (e) {
    if (req.signal.aborted) throw e;
    const error = asFerryError(e);
    const files = await saveArtifacts(scraper.artifactsDir, {
      page: session?.lastPage && !session.lastPage.isClosed() ? session.lastPage : page,
      context: browserContext,
      tracing: session?.tracing ?? false,
    }).catch(() => []);
    const download = error.details.download;
    throw attachArtifacts(error, typeof download === "string" ? [download, ...files] : files);
  } finally {
    await browser?.close().catch(() => {});
    await rm(workDir, { recursive: true, force: true });
  }
}
