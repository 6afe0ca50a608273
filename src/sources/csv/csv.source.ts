/**
 * `csv` source: one local CSV file, parsed as a stream by csv-parse. A row with the wrong number of fields
 * is rejected with its line number; a file that cannot be parsed (an unclosed quote, duplicate header
 * names) fails whole, and since a file commits as one unit nothing of it is applied.
 */
import { createReadStream } from "node:fs";
import path from "node:path";
import { type CsvError, type Info, parse } from "csv-parse";
import { ConfigError, DataError, FatalError } from "../../errors.ts";
import type {
  ReadRequest,
  Source,
  SourceBatch,
  SourceContext,
  SourceDefinition,
  SourceRow,
} from "../source.ts";
import { type CsvSourceConfig, csvSourceSchema } from "./csv.config.ts";

export function createCsvSource(config: CsvSourceConfig, context: SourceContext): Source {
  const file = path.resolve(context.baseDir, config.path);
  if (!config.header && !config.columns) {
    throw new ConfigError("CONFIG_CSV_NO_COLUMNS", "a CSV without a header line needs `columns:`", {
      file: "job",
      path: "source.columns",
    });
  }

  async function* read(req: ReadRequest): AsyncGenerator<SourceBatch> {
    const parser = createReadStream(file, { encoding: config.encoding }).pipe(
      parse({
        delimiter: config.delimiter,
        quote: config.quote,
        bom: true,
        relax_column_count: true,
        skip_empty_lines: true,
        info: true,
      }),
    );
    let columns = config.header ? null : config.columns!;
    let rows: SourceRow[] = [];
    let rejects: SourceBatch["rejects"] = [];
    let previousEnd = 0;
    let previousEmpty = 0;
    try {
      for await (const item of parser as AsyncIterable<{ record: string[]; info: Info }>) {
        req.signal.throwIfAborted();
        const { record, info } = item;
        const line = previousEnd + 1 + (info.empty_lines - previousEmpty);
        previousEnd = info.lines;
        previousEmpty = info.empty_lines;
        if (columns === null) {
          columns = record.map((c) => c.trim());
          const seen = new Set<string>();
          for (const c of columns) {
            if (seen.has(c)) {
              throw new FatalError(
                "SOURCE_CSV_DUPLICATE_HEADER",
                `${file}:${line}: the header names "${c}" twice; rename one`,
              );
            }
            seen.add(c);
          }
          continue;
        }
        if (record.length !== columns.length) {
          rejects.push({
            line,
            error: new DataError(
              "DATA_CSV_FIELD_COUNT",
              `line ${line} has ${record.length} fields; the header has ${columns.length}`,
            ),
          });
        } else {
          const values: Record<string, unknown> = {};
          for (let i = 0; i < columns.length; i++) values[columns[i]!] = record[i];
          rows.push({ values, line });
        }
        if (rows.length + rejects.length >= req.batchSize) {
          yield { rows, rejects, columns };
          rows = [];
          rejects = [];
        }
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        throw new FatalError("SOURCE_FILE_NOT_FOUND", `${file} does not exist`, { cause: e });
      }
      if ((e as CsvError).code?.startsWith("CSV_")) {
        throw new FatalError(
          "SOURCE_CSV_UNPARSABLE",
          `${file}: the file cannot be parsed (${(e as Error).message}); nothing of it was applied. Fix the file and run again`,
          { cause: e },
        );
      }
      throw e;
    }
    if (columns === null)
      throw new FatalError("SOURCE_CSV_EMPTY", `${file} is empty: expected a header line`);
    if (rows.length + rejects.length > 0) yield { rows, rejects, columns };
  }

  return { describe: `csv ${config.path}`, commitUnit: "run", read, close: async () => {} };
}

export const csvSource: SourceDefinition<CsvSourceConfig> = {
  type: "csv",
  configSchema: csvSourceSchema,
  modes: ["snapshot"],
  modesNote: "a file is read whole",
  columnsFrom: "file",
  create: createCsvSource,
};
