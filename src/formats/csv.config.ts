/**
 * The `format: csv` block of a file-based job (a local file, a watched folder, SFTP). It sits beside
 * `format: fixed-width` in a union discriminated by `format`.
 *
 * Header names are matched loosely: `normalizeHeader` trims them, collapses inner whitespace and ignores
 * case, so `E-Mail `, `e-mail` and `E-MAIL` are one name. Aliases and `columns` are compared the same way.
 */
import { z } from "zod";
import { encodingSchema } from "./decode.ts";

export const DEFAULT_MAX_RECORD_SIZE = 1_048_576;

/** The form in which header names, aliases and column names are compared. */
export function normalizeHeader(name: string): string {
  return name.normalize("NFC").trim().replace(/\s+/g, " ").toLowerCase();
}

const char = (what: string): z.ZodString =>
  z.string().length(1, { message: `${what} is one character` }).refine((c) => c !== "\r" && c !== "\n", {
    message: `${what} cannot be a line break`,
  });

const recordType = z.string().trim().min(1);

/**
 * `records:`, for files whose lines carry a record type in one field, as legacy exports write header,
 * detail and trailer lines (the CSV counterpart of a fixed-width file's record_types).
 */
export const csvRecordsSchema = z
  .strictObject({
    type_field: z
      .number()
      .int()
      .min(1)
      .describe("The field holding each line's record type, 1-based (the same position on every line). Its value is compared trimmed."),
    skip: z
      .array(recordType)
      .min(1)
      .optional()
      .describe("Record types read past, wherever they are (before the column names too): a file header record, batch lines."),
    detail: z
      .array(recordType)
      .min(1)
      .optional()
      .describe("The record types that are records. A line of any other type (not skipped, not the trailer) is rejected. Default: every line that is not skipped or the trailer is a record, for files whose records carry no type of their own (the field holds a key)."),
    trailer: z
      .strictObject({
        type: recordType.describe("The trailer's record type, e.g. T."),
        count_field: z.number().int().min(1).describe("The field holding the number of records (detail lines) the file holds, 1-based."),
      })
      .optional()
      .describe("The trailer: the file's last line, saying how many records the file holds. The count is checked; a file whose trailer is missing, or disagrees, fails whole."),
  })
  .superRefine((r, ctx) => {
    const issue = (path: (string | number)[], message: string): void => ctx.addIssue({ code: "custom", path, message });
    if (!r.skip && !r.detail && !r.trailer) issue([], "give at least one of skip, detail or trailer");
    for (const t of r.skip ?? []) if (r.detail?.includes(t)) issue(["skip"], `"${t}" is both a detail type and a type to skip`);
    if (r.trailer) {
      const { type } = r.trailer;
      if (r.skip?.includes(type)) issue(["trailer", "type"], `"${type}" is both the trailer's type and a type to skip`);
      if (r.detail?.includes(type)) issue(["trailer", "type"], `"${type}" is both the trailer's type and a detail type`);
      if (r.trailer.count_field === r.type_field) {
        issue(["trailer", "count_field"], `the count cannot be in the record type's field (${r.type_field})`);
      }
    }
  });

export type CsvRecords = z.output<typeof csvRecordsSchema>;

export const csvFormatSchema = z
  .strictObject({
    format: z.literal("csv").describe("The file is CSV: delimited fields, optionally quoted."),
    encoding: encodingSchema,
    delimiter: z
      .string()
      .min(1)
      .max(8)
      .refine((d) => !/[\r\n]/.test(d), { message: "the delimiter cannot contain a line break" })
      .default(",")
      .describe("What separates the fields of a record: \",\" (default), \"\\t\", \";\", \"|\", or a string of several characters such as \"||\"."),
    quote: char("quote")
      .nullable()
      .default("\"")
      .describe("The character that may surround a field, so that it can hold delimiters and line breaks. null: the file never quotes fields, and a quote is an ordinary character."),
    escape: char("escape")
      .nullable()
      .optional()
      .describe("The character that, inside a quoted field, makes the next character ordinary. Default: the quote itself, so a quote inside a quoted value is written twice (\"\"), as spreadsheets do; \"\\\\\" for files written with backslash escapes."),
    header: z
      .boolean()
      .default(true)
      .describe("The first line (blank lines aside) names the columns. false: give the names in columns."),
    columns: z
      .array(z.string().trim().min(1))
      .min(1)
      .optional()
      .describe("The column names, in file order, of a file without a header line (header: false). With a header, rename columns with aliases instead: names never depend on position."),
    aliases: z
      .record(z.string().trim().min(1), z.array(z.string().trim().min(1)).min(1))
      .default({})
      .describe("Other header names of a column, by the name the mapping uses: { email: [\"E-mail\", \"Email Address\"] } reads any of them as email. Matching ignores case and extra whitespace."),
    max_record_size: z
      .number()
      .int()
      .min(1)
      .default(DEFAULT_MAX_RECORD_SIZE)
      .describe("The largest record, in bytes of text (1 MiB by default). A larger record fails the file: it is usually a quote that is never closed, or the wrong delimiter; raise it only for files that really hold values this large."),
    skip_empty_lines: z
      .boolean()
      .default(true)
      .describe("Skip lines that are empty or hold only spaces and tabs; they still count in line numbers. false: such a line is a record (usually rejected for its field count)."),
    trim: z
      .boolean()
      .default(false)
      .describe("Remove whitespace around each value (outside quotes: a quoted value keeps its spaces). Header names are always compared trimmed."),
    comment: char("comment")
      .optional()
      .describe("Lines starting with this character are skipped (they still count in line numbers). Elsewhere in a line it is an ordinary character."),
    records: csvRecordsSchema
      .optional()
      .describe("For files whose lines carry a record type (header, detail, trailer records): where it is, which types to read past, which are records, and the trailer whose count is checked."),
  })
  .superRefine((spec, ctx) => {
    const issue = (path: string, message: string): void => ctx.addIssue({ code: "custom", path: [path], message });
    const quote = spec.quote;
    if (quote !== null && spec.delimiter.includes(quote)) issue("quote", `the quote (${quote}) cannot be part of the delimiter (${spec.delimiter})`);
    if (quote === null && spec.escape !== undefined && spec.escape !== null) issue("escape", "escape applies to quoted fields: set a quote, or remove escape");
    if (spec.escape && spec.delimiter.includes(spec.escape)) issue("escape", `the escape (${spec.escape}) cannot be part of the delimiter (${spec.delimiter})`);
    if (spec.comment !== undefined && (spec.delimiter.includes(spec.comment) || spec.comment === quote)) {
      issue("comment", `the comment character (${spec.comment}) cannot be the quote or part of the delimiter`);
    }
    if (spec.header && spec.columns) {
      issue("columns", "columns names the fields of a file without a header (header: false); with a header, rename a column with aliases");
    }
    if (!spec.header && !spec.columns) issue("columns", "a file without a header (header: false) needs columns: its column names, in file order");
    const seen = new Map<string, string>();
    spec.columns?.forEach((name, i) => {
      const other = seen.get(normalizeHeader(name));
      if (other !== undefined) ctx.addIssue({ code: "custom", path: ["columns", i], message: `"${name}" is the same column name as "${other}"` });
      seen.set(normalizeHeader(name), name);
    });
    const owner = new Map<string, string>();
    for (const name of Object.keys(spec.aliases)) owner.set(normalizeHeader(name), name);
    for (const [name, alternatives] of Object.entries(spec.aliases)) {
      for (const alternative of alternatives) {
        const key = normalizeHeader(alternative);
        const other = owner.get(key);
        if (other !== undefined && other !== name) {
          ctx.addIssue({
            code: "custom",
            path: ["aliases", name],
            message: `"${alternative}" cannot be another name of ${name}: it already names ${other}`,
          });
        }
        owner.set(key, name);
      }
    }
  });

export type CsvSpec = z.output<typeof csvFormatSchema>;
