/**
 * A file's records, whatever its format: CSV or fixed-width, as items with the line each starts on. The
 * format block of a folder or SFTP job (`format: csv` or `format: fixed-width`) is one of these schemas.
 */
import { createReadStream } from "node:fs";
import { z } from "zod";
import { type CsvSpec, csvFormatSchema, readCsvChunks } from "../formats/csv.ts";
import { type FixedWidthSpec, fixedWidthFormatSchema } from "../formats/fixed-width.config.ts";
import { fixedWidthColumns, readFixedWidth } from "../formats/fixed-width.ts";
import type { DataError } from "../errors.ts";

export const fileFormatSchema = z.discriminatedUnion("format", [csvFormatSchema, fixedWidthFormatSchema]);
export type FileFormat = CsvSpec | FixedWidthSpec;

export type RecordItem =
  | { kind: "columns"; columns: string[] }
  | { kind: "record"; line: number; values: Record<string, unknown> }
  | { kind: "reject"; line: number; error: DataError };

/**
 * Streams the records of a local file, a run of items at a time; throws a FatalError when the file cannot
 * be read as a whole.
 */
export async function* readRecords(
  file: string,
  format: FileFormat,
  name: string,
  columns?: readonly string[],
): AsyncGenerator<RecordItem[]> {
  const bytes = createReadStream(file, { highWaterMark: 256 * 1024 });
  if (format.format === "fixed-width") {
    yield [{ kind: "columns", columns: fixedWidthColumns(format) }];
    let items: RecordItem[] = [];
    for await (const item of readFixedWidth(bytes, format, { name })) {
      items.push(item);
      if (items.length >= 1000) {
        yield items;
        items = [];
      }
    }
    if (items.length > 0) yield items;
    return;
  }
  for await (const items of readCsvChunks(bytes, format, { name, ...(columns ? { columns } : {}) })) {
    yield items.map((item): RecordItem => (item.kind === "header" ? { kind: "columns", columns: item.columns } : item));
  }
}
