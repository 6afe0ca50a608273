/**
 * `file` destination: outbox changes delivered as CSV or JSONL files, into a local folder or onto an SFTP
 * server, for legacy systems that import files. Each write() makes one file per entity in the batch; each
 * line is one change: `_op` (upsert or delete), `_key`, `_idempotency_key`, then the record's columns (a
 * delete carries only its key).
 *
 * Files are put in place atomically (written under a temporary name, then renamed), and a file's name comes
 * from the outbox ids it holds (`{first}`, required in the template). So when Ferry crashes after a file
 * is in place but before it recorded the delivery, the resend of the same changes writes the same name and
 * replaces that file instead of leaving a second copy. What the resend cannot undo is an importer that took
 * the first file already: it then sees the same changes twice, with the same `_idempotency_key`. A
 * resend whose batch differs (newer versions of some records superseded the old rows meanwhile) writes
 * under another name.
 *
 * Every item of a file succeeds or fails with it: write() returns success for all once the files are in
 * place, and throws when one cannot be written (the items stay pending; the files already written are
 * written again, under the same names, by the resend).
 */
import path from "node:path";
import type { Destination, DestinationContext, DestinationDefinition, ItemResult } from "../destination.ts";
import { type FileDestinationConfig, fileDestinationSchema } from "./file.config.ts";
import { planFiles, renderFile } from "./file.content.ts";
import { type FileTarget, localTarget, sftpTarget } from "./file.target.ts";

export interface FileDestinationOptions {
  /** The clock behind `{date}`; tests set it. */
  now?: () => Date;
}

export function createFileDestination(
  name: string,
  config: FileDestinationConfig,
  context: DestinationContext,
  options: FileDestinationOptions = {},
): Destination {
  const now = options.now ?? (() => new Date());
  const log = context.log.child({ destination: name });
  const { folder, sftp } = config.target;
  const target: FileTarget = sftp
    ? sftpTarget(sftp, { secret: context.secret, log })
    : localTarget(path.resolve(context.baseDir, folder!));

  return {
    name,
    maxBatchSize: config.max_batch_size,
    concurrency: 1,
    async write(items, signal) {
      const results: ItemResult[] = [];
      for (const file of planFiles(name, config, items, now())) {
        await target.put(file.name, () => renderFile(file, config.format, config.escape_formulas), signal);
        log.info({ file: file.name, entity: file.entity, changes: file.items.length, folder: target.where }, "file written");
        for (const item of file.items) {
          results.push({
            outboxId: item.outboxId,
            ok: true,
            remoteId: file.name,
            action: item.op === "delete" ? "deleted" : "created",
          });
        }
      }
      return results;
    },
    close: () => target.close(),
  };
}

export const fileDestination: DestinationDefinition<FileDestinationConfig> = {
  type: "file",
  configSchema: fileDestinationSchema,
  create: (name, config, context) => createFileDestination(name, config, context),
};
