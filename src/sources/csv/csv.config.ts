import { z } from "zod";

export const csvSourceSchema = z.strictObject({
  type: z.literal("csv"),
  path: z.string().min(1).describe("The CSV file, relative to ferry.yaml."),
  delimiter: z.string().min(1).max(4).default(",").describe("Field delimiter."),
  quote: z.string().length(1).default("\"").describe("Quote character."),
  encoding: z
    .enum(["utf8", "utf16le", "latin1"])
    .default("utf8")
    .describe("Text encoding; a UTF-8 BOM is removed."),
  header: z.boolean().default(true).describe("The first line names the columns."),
  columns: z.array(z.string().min(1)).optional().describe("Column names, when the file has no header line."),
});

export type CsvSourceConfig = z.output<typeof csvSourceSchema>;
