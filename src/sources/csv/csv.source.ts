/**
 * `csv` source: one local CSV file, parsed as a stream (csv.read.ts). Since a file commits as one unit, a
 * file that fails part-way applies nothing of it. This file reads the run's context for the read.
 */
import path from "node:path";
import { ConfigError } from "../../errors.ts";
import type { Source, SourceContext, SourceDefinition } from "../source.ts";
import { type CsvSourceConfig, csvSourceSchema } from "./csv.config.ts";
import { readCsvFile } from "./csv.read.ts";

export function createCsvSource(config: CsvSourceConfig, context: SourceContext): Source {
  const file = path.resolve(context.baseDir, config.path);
  if (!config.header && !config.columns) {
    throw new ConfigError("CONFIG_CSV_NO_COLUMNS", "a CSV without a header line needs `columns:`", {
      file: "job",
      path: "source.columns",
    });
  }
  return { describe: `csv ${config.path}`, commitUnit: "run", read: (req) => readCsvFile(file, config, req), close: async () => {} };
}

export const csvSource: SourceDefinition<CsvSourceConfig> = {
  type: "csv",
  configSchema: csvSourceSchema,
  modes: ["snapshot"],
  modesNote: "a file is read whole",
  columnsFrom: "file",
  create: createCsvSource,
};
