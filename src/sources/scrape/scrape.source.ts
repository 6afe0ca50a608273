/**
 * `scrape` source: a legacy web UI read through Chromium, by a recipe of steps. Each run launches its own
 * headless browser with a fresh context, signs in, runs the steps, then either extracts rows from the
 * pages or downloads the app's CSV export and reads it with the CSV source. It is a snapshot source, read
 * and committed whole: a run that fails part-way applies nothing, and leaves a screenshot, the page's
 * HTML and a trace in the run's folder, named in the error.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright";
import { resolveSecret, type Secret } from "../../config/secrets.ts";
import { ConfigError } from "../../errors.ts";
import { createCsvSource } from "../csv/csv.source.ts";
import type { ReadRequest, Source, SourceBatch, SourceContext, SourceDefinition } from "../source.ts";
import { attachArtifacts, saveArtifacts } from "./artifacts.ts";
import { launchBrowser, resolveBrowser } from "./browser.ts";
import { extractRecords } from "./extract.ts";
import { downloadExport, type RecipeRun, runSteps } from "./recipe.ts";
import { type ScrapeSourceConfig, scrapeSourceSchema } from "./scrape.config.ts";
import { asFerryError, emptyPage } from "./scrape.errors.ts";
import { Session } from "./session.ts";

export function createScrapeSource(config: ScrapeSourceConfig, context: SourceContext): Source {
  if (!URL.canParse(config.base_url) || !/^https?:$/.test(new URL(config.base_url).protocol)) {
    throw new ConfigError("CONFIG_INVALID", `base_url must be an http(s) URL such as https://erp.example.com, got ${JSON.stringify(config.base_url)}`, {
      file: "job",
      path: "source.base_url",
    });
  }
  const origin = new URL(config.base_url).origin;
  const artifactsDir =
    context.artifactsDir ?? path.join(context.baseDir, ".ferry", "runs", "scrape", new Date().toISOString().replaceAll(":", "-"));

  // Credentials reach the source as references (the loader leaves them so) and become Secrets only here.
  const secret = (value: string, field: string): Secret =>
    resolveSecret(value, { env: context.env, baseDir: context.baseDir, where: { file: "job", path: `source.login.${field}` } });
  const credentials = config.login
    ? { username: secret(config.login.username, "username"), password: secret(config.login.password, "password") }
    : null;

  async function* read(req: ReadRequest): AsyncGenerator<SourceBatch> {
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
      session = new Session({ config, context: browserContext, credentials, signal: req.signal, log: context.log });
      const run: RecipeRun = { session, page, baseDir: context.baseDir, baseUrl: config.base_url, signal: req.signal, log: context.log };
      await session.login(page);
      await session.startTracing();
      await runSteps(run, config.steps);
      if (config.extract) {
        yield* extractRecords(run, config.extract, req.batchSize);
      } else if (config.export) {
        const file = await downloadExport(run, config.export, { workDir, artifactsDir });
        const csv = createCsvSource({ ...config.export.csv, type: "csv", path: file }, { ...context, baseDir: workDir });
        let rows = 0;
        for await (const batch of csv.read(req)) {
          rows += batch.rows.length + batch.rejects.length;
          yield batch;
        }
        if (rows === 0) throw emptyPage("the export", page.url(), null);
      }
    } catch (e) {
      if (req.signal.aborted) throw e;
      const error = asFerryError(e);
      const files = await saveArtifacts(artifactsDir, {
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

  return { describe: `scrape ${origin}`, commitUnit: "run", read, close: async () => {} };
}

export const scrapeSource: SourceDefinition<ScrapeSourceConfig> = {
  type: "scrape",
  configSchema: scrapeSourceSchema,
  modes: ["snapshot"],
  modesNote: "a scraped web UI is read whole on every run",
  columnsFrom: "recipe",
  create: createScrapeSource,
};
