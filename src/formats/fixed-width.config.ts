/**
 * The `format: fixed-width` block of a file-based job. Positions and widths count characters (Unicode
 * code points) after decoding, never bytes: a windows-1252 "é" and a UTF-8 "é" are both one character.
 * Columns may overlap (a legacy spec may name a date and, separately, its year); a column may not reach
 * past `record_length` when one is declared.
 */
import { z } from "zod";
import { encodingSchema } from "./decode.ts";

const DATE_TOKENS = /YYYY|MM|DD|[-/. ]/g;

/** Why `format` is not a date format a column can use, or null when it is. */
export function dateFormatProblem(format: string): string | null {
  const tokens = format.match(DATE_TOKENS) ?? [];
  const complete = tokens.join("") === format;
  const once = ["YYYY", "MM", "DD"].every((t) => tokens.filter((x) => x === t).length === 1);
  return complete && once
    ? null
    : `"${format}" is not a date format: use YYYY, MM and DD once each, with - / . or space between them if the file has them (e.g. YYYYMMDD, DDMMYYYY, YYYY-MM-DD)`;
}

const start = z.number().int().min(1).describe("The field's first character, 1-based.");
const width = z.number().int().min(1).optional().describe("The field's width in characters; give width or end.");
const end = z.number().int().min(1).optional().describe("The field's last character, 1-based and inclusive; give width or end.");

type Position = { start: number; width?: number | undefined; end?: number | undefined };

function checkPosition(what: string, p: Position, ctx: z.RefinementCtx): void {
  if ((p.width === undefined) === (p.end === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: p.width === undefined ? ["width"] : ["end"],
      message: `${what}: give either width or end${p.width === undefined ? "" : ", not both"}`,
    });
  } else if (p.end !== undefined && p.end < p.start) {
    ctx.addIssue({ code: "custom", path: ["end"], message: `${what}: end (${p.end}) is before start (${p.start})` });
  }
}

/** The last character of a field, 1-based inclusive. */
export function lastCharacter(p: Position): number {
  return p.end ?? p.start + p.width! - 1;
}

export const fixedWidthColumnSchema = z
  .strictObject({
    name: z.string().min(1).describe("The column's name, as mappings refer to it."),
    start,
    width,
    end,
    trim: z
      .enum(["both", "left", "right", "none"])
      .default("both")
      .describe("Which padding spaces to remove from a string. Numbers and dates are always trimmed; a field of only spaces is empty (null)."),
    type: z
      .enum(["string", "integer", "decimal", "date"])
      .default("string")
      .describe("integer: canonical digits (\"-0042\" gives \"-42\"). decimal: an exact decimal string, never a float. date: YYYY-MM-DD."),
    implied_decimals: z
      .number()
      .int()
      .min(1)
      .max(18)
      .optional()
      .describe("Decimal columns written without a decimal point (COBOL style): 000012345 with 2 gives 123.45."),
    format: z.string().optional().describe("Date columns: how the file writes dates, e.g. YYYYMMDD, DDMMYYYY, YYYY-MM-DD, DD/MM/YYYY."),
    null_values: z
      .array(z.string())
      .optional()
      .describe("Values meaning \"no value\" (compared once trimmed), e.g. 00000000 or 99999999 in a date column."),
  })
  .superRefine((c, ctx) => {
    const what = `column "${c.name}"`;
    checkPosition(what, c, ctx);
    if (c.type === "date") {
      const problem = c.format === undefined ? "a date column needs format (e.g. YYYYMMDD)" : dateFormatProblem(c.format);
      if (problem) ctx.addIssue({ code: "custom", path: ["format"], message: `${what}: ${problem}` });
    } else if (c.format !== undefined) {
      ctx.addIssue({ code: "custom", path: ["format"], message: `${what}: format applies to date columns only` });
    }
    if (c.implied_decimals !== undefined && c.type !== "decimal") {
      ctx.addIssue({ code: "custom", path: ["implied_decimals"], message: `${what}: implied_decimals needs type: decimal` });
    }
  });

const columnsSchema = z
  .array(fixedWidthColumnSchema)
  .min(1)
  .superRefine((columns, ctx) => {
    const seen = new Set<string>();
    columns.forEach((c, i) => {
      if (seen.has(c.name)) ctx.addIssue({ code: "custom", path: [i, "name"], message: `column "${c.name}" is declared twice` });
      seen.add(c.name);
    });
  });

export const fixedWidthRecordTypeSchema = z
  .strictObject({
    name: z.string().min(1).describe("The record type's name, for messages and reports: header, detail, trailer..."),
    prefix: z
      .string()
      .min(1)
      .describe("Lines starting with this text are of this type; when several prefixes match, the longest wins."),
    skip: z.boolean().default(false).describe("Read past lines of this type (a header): they give no record."),
    columns: columnsSchema.optional().describe("The fields of this type's records."),
    count: z
      .strictObject({ start, width, end })
      .superRefine((p, ctx) => checkPosition("count", p, ctx))
      .optional()
      .describe("Makes this type the trailer: the field holding how many records of the types with columns the file has."),
  })
  .superRefine((t, ctx) => {
    const roles = [t.skip, t.columns !== undefined, t.count !== undefined].filter(Boolean).length;
    if (roles !== 1) {
      ctx.addIssue({
        code: "custom",
        message: `record type "${t.name}" needs exactly one of columns (records), count (the trailer) or skip: true`,
      });
    }
  });

export const fixedWidthFormatSchema = z
  .strictObject({
    format: z.literal("fixed-width"),
    encoding: encodingSchema,
    record_length: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe("Every record line has exactly this many characters; a line of another length is rejected. Without it, characters past the last column are ignored."),
    allow_short_lines: z
      .boolean()
      .default(false)
      .describe("Read the missing end of a short line as spaces, for files whose trailing blanks were trimmed. Otherwise a short line is rejected."),
    columns: columnsSchema.optional().describe("The fields of every line, for a file with a single record type."),
    record_types: z
      .array(fixedWidthRecordTypeSchema)
      .min(1)
      .optional()
      .describe("For files mixing record types (header, detail, trailer), told apart by the start of the line."),
  })
  .superRefine((spec, ctx) => {
    if ((spec.columns === undefined) === (spec.record_types === undefined)) {
      ctx.addIssue({ code: "custom", path: ["columns"], message: "give either columns or record_types" });
      return;
    }
    const fits = (p: Position, what: string, path: (string | number)[]): void => {
      if (spec.record_length !== undefined && lastCharacter(p) > spec.record_length) {
        ctx.addIssue({
          code: "custom",
          path,
          message: `${what} ends at character ${lastCharacter(p)}, beyond record_length ${spec.record_length}`,
        });
      }
    };
    spec.columns?.forEach((c, i) => fits(c, `column "${c.name}"`, ["columns", i]));
    const types = spec.record_types ?? [];
    const names = new Set<string>();
    const prefixes = new Set<string>();
    types.forEach((t, i) => {
      if (names.has(t.name)) ctx.addIssue({ code: "custom", path: ["record_types", i, "name"], message: `record type "${t.name}" is declared twice` });
      if (prefixes.has(t.prefix)) {
        ctx.addIssue({ code: "custom", path: ["record_types", i, "prefix"], message: `record type "${t.name}": another type has prefix "${t.prefix}"` });
      }
      names.add(t.name);
      prefixes.add(t.prefix);
      t.columns?.forEach((c, j) => fits(c, `record type "${t.name}", column "${c.name}"`, ["record_types", i, "columns", j]));
      if (t.count) fits(t.count, `record type "${t.name}", count`, ["record_types", i, "count"]);
    });
    if (types.length > 0 && !types.some((t) => t.columns)) {
      ctx.addIssue({ code: "custom", path: ["record_types"], message: "no record type has columns: the file would give no records" });
    }
    if (types.filter((t) => t.count).length > 1) {
      ctx.addIssue({ code: "custom", path: ["record_types"], message: "only one record type can be the trailer (have count)" });
    }
  });

export type FixedWidthColumn = z.output<typeof fixedWidthColumnSchema>;
export type FixedWidthRecordType = z.output<typeof fixedWidthRecordTypeSchema>;
export type FixedWidthSpec = z.output<typeof fixedWidthFormatSchema>;
