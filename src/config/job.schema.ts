/**
 * `jobs/<name>.yaml`: what to read, through which mapping, how often, and within which safety limits.
 */
import { z } from "zod";
import { csvSourceSchema } from "../sources/csv/csv.config.ts";
import { folderSourceSchema } from "../sources/folder/folder.config.ts";
import { scrapeSourceSchema } from "../sources/scrape/scrape.config.ts";
import { sftpSourceSchema } from "../sources/sftp/sftp.config.ts";
import { sqlSourceSchema } from "../sources/sql/sql.config.ts";

const duration = z
  .union([
    z.string().regex(/^\d+\s*(s|m|h|d)$/, "expected a duration such as 30s, 10m, 2h or 1d"),
    z.number().min(0),
  ])
  .describe(
    "Re-read this far behind the last checkpoint, for rows committed late: 10m, 2h... or a number for numeric cursors.",
  );

const filterRule = z.strictObject({
  field: z.string().min(1).describe("A canonical field of the mapping."),
  in: z
    .array(z.union([z.string(), z.number(), z.boolean()]))
    .optional()
    .describe("Keep records whose value is one of these."),
  not_in: z
    .array(z.union([z.string(), z.number(), z.boolean()]))
    .optional()
    .describe("Drop records whose value is one of these."),
  not_empty: z.boolean().optional().describe("Keep only records where the field has a value."),
});

export const jobSchema = z
  .strictObject({
    description: z.string().optional(),
    source: z.discriminatedUnion("type", [sqlSourceSchema, csvSourceSchema, folderSourceSchema, sftpSourceSchema, scrapeSourceSchema]),
    mapping: z.string().min(1).describe("The entity of a mapping in mappings/, e.g. customer."),
    as: z.string().min(1).describe("This source's name in the mapping's `sources:`."),
    mode: z
      .enum(["snapshot", "cursor"])
      .default("snapshot")
      .describe("snapshot: read everything, detect deletes. cursor: read what changed since the checkpoint."),
    cursor: z
      .strictObject({
        column: z
          .string()
          .min(1)
          .describe("A column that grows with every change: a modification time or a sequence."),
        lookback: duration.optional(),
      })
      .optional(),
    source_time: z
      .string()
      .min(1)
      .optional()
      .describe(
        "A column holding the record's last change time, for the `latest` rule (default: the cursor column).",
      ),
    schedule: z
      .string()
      .optional()
      .describe("When `ferry serve` runs the job: a cron expression (node-cron, 5 or 6 fields)."),
    batch_size: z
      .number()
      .int()
      .min(1)
      .max(50_000)
      .default(1000)
      .describe("Records per batch: per state transaction and per source page."),
    deletes: z
      .strictObject({
        policy: z.enum(["propagate", "archive", "ignore", "flag"]).default("flag"),
        max_share: z
          .number()
          .min(0)
          .max(1)
          .default(0.2)
          .describe("Refuse a run that would delete more than this share of the records."),
      })
      .default({ policy: "flag", max_share: 0.2 }),
    filter: z
      .array(filterRule)
      .default([])
      .describe("Records that fail a rule are counted as filtered and not applied."),
    destinations: z
      .array(z.string())
      .optional()
      .describe("The mapping's destinations this job feeds (default: all)."),
  })
  .superRefine((job, ctx) => {
    if (job.mode === "cursor" && !job.cursor) {
      ctx.addIssue({
        code: "custom",
        path: ["cursor"],
        message: "mode cursor needs `cursor: { column: ... }`",
      });
    }
    if (job.mode === "snapshot" && job.cursor) {
      ctx.addIssue({ code: "custom", path: ["cursor"], message: "`cursor` only applies with mode: cursor" });
    }
    if ((job.source.type === "csv" || job.source.type === "folder" || job.source.type === "sftp") && job.mode === "cursor") {
      ctx.addIssue({
        code: "custom",
        path: ["mode"],
        message: "a file is read whole: use mode snapshot",
      });
    }
    if (job.source.type === "scrape" && job.mode === "cursor") {
      ctx.addIssue({
        code: "custom",
        path: ["mode"],
        message: "a scraped web UI is read whole on every run: use mode snapshot",
      });
    }
  });

export type JobConfig = z.output<typeof jobSchema>;
export type FilterRule = z.output<typeof filterRule>;
