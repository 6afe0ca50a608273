/**
 * `jobs/<name>.yaml`: what to read, through which mapping, how often, and within which safety limits.
 */
import { z } from "zod";
import { type DeletePolicy, oneOfTypes, type SourceSpec, type SyncMode } from "./connector.ts";
import { cronProblem, isTimeZone } from "./schedule.ts";

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

const deletes = z
  .strictObject({
    policy: z.enum(["propagate", "archive", "ignore", "flag"] satisfies DeletePolicy[]).default("flag"),
    max_share: z
      .number()
      .min(0)
      .max(1)
      .default(0.2)
      .describe("Refuse a run that would delete more than this share of the records."),
  })
  .default({ policy: "flag", max_share: 0.2 });

/** A job's `source:` block: `type` names a registered source, whose schema checked the rest. */
export type SourceConfig = { type: string } & Record<string, unknown>;

/** The schema of `jobs/*.yaml`, its `source:` union and mode rules taken from the registered sources. */
export function jobSchemaFor(sources: readonly SourceSpec[]) {
  const byType = new Map(sources.map((s) => [s.type, s]));
  return z
    .strictObject({
      description: z.string().optional(),
      source: oneOfTypes<SourceConfig>(sources.map((s) => s.configSchema), "type"),
      mapping: z.string().min(1).describe("The entity of a mapping in mappings/, e.g. customer."),
      as: z.string().min(1).describe("This source's name in the mapping's `sources:`."),
      mode: z
        .enum(["snapshot", "cursor"] satisfies SyncMode[])
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
        .superRefine((value, ctx) => {
          const problem = cronProblem(value);
          if (problem) ctx.addIssue({ code: "custom", message: problem });
        })
        .optional()
        .describe("When `ferry serve` runs the job: a cron expression (node-cron, 5 or 6 fields)."),
      timezone: z
        .string()
        .refine(isTimeZone, "expected an IANA time zone, such as Europe/Paris or UTC")
        .optional()
        .describe("The time zone of `schedule` (IANA name; default: the time zone of the host `ferry serve` runs on)."),
      batch_size: z
        .number()
        .int()
        .min(1)
        .max(50_000)
        .default(1000)
        .describe("Records per batch: per state transaction and per source page."),
      deletes,
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
        ctx.addIssue({ code: "custom", path: ["cursor"], message: "mode cursor needs `cursor: { column: ... }`" });
      }
      if (job.mode === "snapshot" && job.cursor) {
        ctx.addIssue({ code: "custom", path: ["cursor"], message: "`cursor` only applies with mode: cursor" });
      }
      const source = byType.get(job.source.type);
      if (source && !source.modes.includes(job.mode)) {
        const note = source.modesNote ?? `a ${source.type} source reads in mode ${source.modes.join(" or ")}`;
        ctx.addIssue({ code: "custom", path: ["mode"], message: `${note}: use mode ${source.modes.join(" or ")}` });
      }
    });
}

export type JobConfig = z.output<ReturnType<typeof jobSchemaFor>>;
export type FilterRule = z.output<typeof filterRule>;
