/**
 * The `csv` source's read: the file parsed as a stream by csv-parse, its rows in batches of the job's size.
 * A row with the wrong number of fields is rejected with its line number; a file that cannot be parsed (an
 * unclosed quote, duplicate header names) fails whole.
 */
import { createReadStream } from "node:fs";
import { type CsvError, type Info, parse } from "csv-parse";
import { DataError, FatalError } from "../../errors.ts";
import type { ReadRequest, SourceBatch, SourceRow } from "../source.ts";
import type { CsvSourceConfig } from "./csv.config.ts";

/** Reads `file` (absolute) as the job's `config` says. */
export async function* readCsvFile(file: string, config: CsvSourceConfig, req: ReadRequest): AsyncGenerator<SourceBatch> {
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
        columns = headerColumns(record, file, line);
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
    throw readError(e, file);
  }
  if (columns === null)
    throw new FatalError("SOURCE_CSV_EMPTY", `${file} is empty: expected a header line`);
  if (rows.length + rejects.length > 0) yield { rows, rejects, columns };
}

/** The header line's names, trimmed; a name given twice fails the file. */
function headerColumns(record: string[], file: string, line: number): string[] {
  const columns = record.map((c) => c.trim());
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
  return columns;
}

/** A missing file or a parse error as the error a user reads; anything else as it is. */
function readError(e: unknown, file: string): unknown {
  if ((e as NodeJS.ErrnoException).code === "ENOENT") {
    return new FatalError("SOURCE_FILE_NOT_FOUND", `${file} does not exist`, { cause: e });
  }
  if ((e as CsvError).code?.startsWith("CSV_")) {
    return new FatalError(
      "SOURCE_CSV_UNPARSABLE",
      `${file}: the file cannot be parsed (${(e as Error).message}); nothing of it was applied. Fix the file and run again`,
      { cause: e },
    );
  }
  return e;
}
