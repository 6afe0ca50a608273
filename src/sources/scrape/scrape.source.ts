/**
 * `scrape` source: a legacy web UI read through Chromium, by a recipe of steps (scrape.read.ts). It is a
 * snapshot source, read and committed whole: a run that fails part-way applies nothing. This file reads
 * the run's context and resolves the login's secrets for the read.
 */
import type { Secret } from "../../config/secrets.ts";
import { ConfigError } from "../../errors.ts";
import { createCsvSource } from "../csv/csv.source.ts";
import type { Source, SourceContext, SourceDefinition } from "../source.ts";
import { type ScrapeSourceConfig, scrapeSourceSchema } from "./scrape.config.ts";
import { readScrape, type Scraper } from "./scrape.read.ts";

export function createScrapeSource(config: ScrapeSourceConfig, context: SourceContext): Source {
  if (!URL.canParse(config.base_url) || !/^https?:$/.test(new URL(config.base_url).protocol)) {
    throw new ConfigError("CONFIG_INVALID", `base_url must be an http(s) URL such as https://erp.example.com, got ${JSON.stringify(config.base_url)}`, {
      file: context.file,
      path: `${context.block}.base_url`,
    });
  }
  const origin = new URL(config.base_url).origin;
  const artifactsDir = context.artifactsDir;

  // Credentials reach the source as references (the loader leaves them so) and become Secrets only here.
  const secret = (value: string, field: string): Secret => context.secret(`login.${field}`, value);
  const credentials = config.login
    ? { username: secret(config.login.username, "username"), password: secret(config.login.password, "password") }
    : null;

  const scraper: Scraper = {
    config,
    credentials,
    baseDir: context.baseDir,
    artifactsDir,
    log: context.log,
    exportSource: (csv, file, workDir) => createCsvSource({ ...csv, type: "csv", path: file }, { ...context, baseDir: workDir }),
  };
  return { describe: `scrape ${origin}`, commitUnit: "run", read: (req) => readScrape(scraper, req), close: async () => {} };
}

export const scrapeSource: SourceDefinition<ScrapeSourceConfig> = {
  type: "scrape",
  configSchema: scrapeSourceSchema,
  modes: ["snapshot"],
  modesNote: "a scraped web UI is read whole on every run",
  columnsFrom: "recipe",
  create: createScrapeSource,
};
