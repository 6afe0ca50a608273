/**
 * One local file as a Source: its records in batches, applied as one unit (a file is applied completely
 * or not at all). Every line read is told to `onLine` with its raw key, for the file's report.
 */
import { FatalError } from "../errors.ts";
import type { ReadRequest, Source, SourceBatch } from "../sources/source.ts";
import { type FileFormat, readRecords } from "./records.ts";

export interface FileSourceOptions {
  /** The file as the user knows it, in messages and reports. */
  name: string;
  describe: string;
  onLine?: (line: number, key: unknown) => void;
}

export function fileSource(file: string, format: FileFormat, options: FileSourceOptions): Source {
  async function* read(req: ReadRequest): AsyncGenerator<SourceBatch> {
    let columns: string[] | null = null;
    let batch: SourceBatch | null = null;
    const fresh = (): SourceBatch => ({ rows: [], rejects: [], columns: columns ?? [] });
    try {
      for await (const items of readRecords(file, format, options.name, req.columns)) {
        req.signal.throwIfAborted();
        for (const item of items) {
          if (item.kind === "columns") {
            columns = item.columns;
            continue;
          }
          batch ??= fresh();
          if (item.kind === "record") {
            batch.rows.push({ values: item.values, line: item.line });
            options.onLine?.(item.line, item.values[req.keyColumn]);
          } else {
            batch.rejects.push({ line: item.line, error: item.error });
            options.onLine?.(item.line, null);
          }
          if (batch.rows.length + batch.rejects.length >= req.batchSize) {
            yield batch;
            batch = null;
          }
        }
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        throw new FatalError("SOURCE_FILE_NOT_FOUND", `${options.name} does not exist`, { cause: e });
      }
      throw e;
    }
    if (batch) yield batch;
  }
  return { describe: options.describe, commitUnit: "run", read, close: async () => {} };
}
