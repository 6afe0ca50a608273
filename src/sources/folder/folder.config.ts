import { z } from "zod";
import { durationSchema } from "../../config/duration.ts";
import { eachFileSchema } from "../../files/each-file.ts";
import { fileFormatSchema } from "../../files/records.ts";

export const folderSourceSchema = z.strictObject({
  type: z.literal("folder"),
  path: z
    .string()
    .min(1)
    .describe("The folder files are dropped into, relative to ferry.yaml. Ferry creates processing/, archive/ and failed/ inside it."),
  pattern: z
    .string()
    .min(1)
    .default("*")
    .describe("Which file names to take: * matches any run of characters, ? one character (e.g. customers-*.csv)."),
  format: fileFormatSchema,
  each_file: eachFileSchema,
  ready: z
    .union([
      z.strictObject({
        stable_for: durationSchema("A file is taken once its size and time have not changed for this long.", "2s"),
      }),
      z.strictObject({
        marker: z
          .literal(".done")
          .describe("A file is taken once `<name>.done` exists beside it (the marker is removed when the file is taken)."),
      }),
    ])
    .default({ stable_for: "2s" })
    .describe("When a dropped file is complete."),
  max_file_bytes: z
    .number()
    .int()
    .min(1)
    .default(1024 * 1024 * 1024)
    .describe("A larger file is moved to failed/ unread."),
});

export type FolderSourceConfig = z.output<typeof folderSourceSchema>;
