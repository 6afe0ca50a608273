/**
 * `type: file` in ferry.yaml's `destinations`: outbox changes written as CSV or JSONL files into a local
 * folder or onto an SFTP server, for legacy systems that import files.
 */
import { z } from "zod";
import { durationSchema as duration } from "../../config/duration.ts";
import { checkSftpLogin, sftpConnectTimeout, sftpLoginFields } from "../../sources/sftp/sftp.config.ts";

export const FILE_NAME_PLACEHOLDERS = ["destination", "entity", "first", "last", "date", "ext"] as const;
export type FileNamePlaceholder = (typeof FILE_NAME_PLACEHOLDERS)[number];

/** Columns Ferry writes before the record's own; a configured column may not take one of these names. */
export const META_COLUMNS = ["_op", "_key", "_idempotency_key"] as const;

export const DEFAULT_FILE_NAME = "{entity}-{first}-{last}.{ext}";

/** What is wrong with a `file_name` template, or null when it will do. */
export function fileNameTemplateProblem(template: string): string | null {
  const known = FILE_NAME_PLACEHOLDERS.map((p) => `{${p}}`).join(", ");
  const names = [...template.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]!);
  const unknown = names.find((n) => !(FILE_NAME_PLACEHOLDERS as readonly string[]).includes(n));
  if (unknown !== undefined) return `unknown placeholder {${unknown}}: the placeholders are ${known}`;
  if (/[{}]/.test(template.replace(/\{[^{}]*\}/g, ""))) return `a { or } that is not part of a placeholder (${known})`;
  if (template.includes("/") || template.includes("\\")) {
    return "a file name, not a path: no / or \\ (the folder is the target's)";
  }
  if (template.includes("..")) return "no .. in a file name";
  if (template.startsWith(".")) return "a name starting with . is hidden, and Ferry's temporary files start with .";
  if (!names.includes("first")) {
    return "the name must contain {first} (the file's smallest outbox id): it is what makes a resend of the same changes replace its file instead of adding a second one";
  }
  return null;
}

const csvFormatSchema = z.strictObject({
  format: z.literal("csv").describe("CSV: a header line (unless header: false), then one line per change."),
  delimiter: z
    .string()
    .min(1)
    .max(8)
    .refine((d) => !/["\r\n]/.test(d), { message: "the delimiter cannot contain a quote or a line break" })
    .default(",")
    .describe("What separates the fields: \",\" (default), \";\", \"\\t\", \"|\"..."),
  header: z.boolean().default(true).describe("Write the column names as the first line."),
  encoding: z.literal("utf8").default("utf8").describe("The files' text encoding: UTF-8, without a byte order mark."),
});

const jsonlFormatSchema = z.strictObject({
  format: z
    .literal("jsonl")
    .describe("JSON Lines: one JSON object per change and per line; numbers, booleans and null keep their JSON types."),
});

const sftpTargetSchema = z
  .strictObject({
    ...sftpLoginFields,
    port: sftpLoginFields.port.describe("The server's SSH port."),
    username: sftpLoginFields.username.describe("The login on the server."),
    password: sftpLoginFields.password.describe("The login's password, as a reference: ${env:NAME} or ${file:path}."),
    folder: z.string().min(1).describe("The remote folder the files are written into, e.g. /imports/customers; created if missing."),
    connect_timeout: sftpConnectTimeout,
    transfer_timeout: duration("An upload that makes no progress for this long fails; the changes stay pending and are sent again.", "60s"),
  })
  .superRefine(checkSftpLogin);

export const fileDestinationSchema = z.strictObject({
  type: z.literal("file"),
  format: z
    .discriminatedUnion("format", [csvFormatSchema, jsonlFormatSchema])
    .prefault({ format: "csv" })
    .describe("The files' format: { format: csv } (the default, with delimiter and header) or { format: jsonl }."),
  target: z
    .strictObject({
      folder: z
        .string()
        .min(1)
        .optional()
        .describe("A local folder, relative to ferry.yaml's folder unless absolute; created if missing."),
      sftp: sftpTargetSchema.optional().describe("An SFTP server and folder; the server's host key is pinned as for the sftp source."),
    })
    .superRefine((t, ctx) => {
      if ((t.folder === undefined) === (t.sftp === undefined)) {
        ctx.addIssue({ code: "custom", message: "give either folder: (a local folder) or sftp: (a server and its folder), not both" });
      }
    })
    .describe("Where the files go: { folder: exports/crm } or { sftp: { host, username, password, host_key, folder } }."),
  file_name: z
    .string()
    .min(1)
    .superRefine((t, ctx) => {
      const problem = fileNameTemplateProblem(t);
      if (problem !== null) ctx.addIssue({ code: "custom", message: problem });
    })
    .default(DEFAULT_FILE_NAME)
    .describe(
      "Each file's name. {entity}, {destination}, {first} and {last} (the smallest and largest outbox id in the file, "
      + "12 digits so names sort), {date} (UTC, YYYYMMDD) and {ext} (csv or jsonl). {first} is required. "
      + "{date} makes a resend that crosses midnight UTC write a second file; leave it out where that matters.",
    ),
  columns: z
    .array(z.string().min(1))
    .min(1)
    .superRefine((columns, ctx) => {
      columns.forEach((c, i) => {
        if ((META_COLUMNS as readonly string[]).includes(c)) {
          ctx.addIssue({ code: "custom", path: [i], message: `${c} is one of the columns Ferry writes itself (${META_COLUMNS.join(", ")})` });
        } else if (columns.indexOf(c) !== i) ctx.addIssue({ code: "custom", path: [i], message: `${c} is listed twice` });
      });
    })
    .optional()
    .describe(
      "The record properties to write, in this order, after _op, _key and _idempotency_key. "
      + "Default: every property of the file's records, in the order first seen.",
    ),
  escape_formulas: z
    .boolean()
    .default(true)
    .describe(
      "CSV only: a cell starting with =, +, -, @, a tab or a carriage return gets a leading ' so that a spreadsheet "
      + "shows it as text instead of running it as a formula. Plain numbers such as -12.50 are left as they are.",
    ),
  max_batch_size: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(10_000)
    .describe("Most changes per file."),
});

export type FileDestinationConfig = z.output<typeof fileDestinationSchema>;
export type FileFormatConfig = FileDestinationConfig["format"];
export type SftpTargetConfig = z.output<typeof sftpTargetSchema>;
