/**
 * What each file of a folder or SFTP job is, and so what a file whose content was applied before means.
 *
 * - `changes`: each file carries new or changed records. A file equal to any file applied before is a
 *   re-drop: reported as a duplicate, never applied twice.
 * - `full_list`: each file is the whole list (a snapshot): a file equal to an older, superseded one is
 *   today's truth and is applied (what the files in between deleted comes back). Only a file equal to the
 *   last one applied is a duplicate: applying it would change nothing.
 *
 * Unset, the job's delete policy decides: a job that detects deletes from each file (flag, propagate,
 * archive) already treats each file as the full list; `ignore` is for files that hold some records.
 */
import { z } from "zod";
import type { DeletePolicy, SourceValidateContext } from "../config/connector.ts";
import { ConfigError } from "../errors.ts";

export type EachFile = "full_list" | "changes";

export const eachFileSchema = z
  .enum(["full_list", "changes"] satisfies EachFile[])
  .optional()
  .describe(
    "What each file holds. full_list: all the records (a file equal to an older one is applied again; one equal to the last file applied is a duplicate). changes: new or changed records (a file equal to any earlier one is a duplicate; needs deletes: { policy: ignore }). Default: full_list, unless the job's delete policy is ignore.",
  );

/** The kind a job's files are: its source's `each_file`, else what its delete policy implies. */
export function eachFileOf(setting: EachFile | undefined, policy: DeletePolicy): EachFile {
  return setting ?? (policy === "ignore" ? "changes" : "full_list");
}

/**
 * A file that holds only changes says nothing of the records it lacks: detecting deletes from it would
 * delete (or flag) every record it does not mention.
 */
export function checkEachFile(config: { each_file?: EachFile | undefined }, context: SourceValidateContext): ConfigError[] {
  const { policy } = context.job.deletes;
  if (config.each_file !== "changes" || policy === "ignore") return [];
  return [
    new ConfigError(
      "CONFIG_CHANGES_FILE_DELETES",
      `each_file: changes says a file holds only new or changed records, so a record missing from it was not deleted; with the job's delete policy, ${policy} (flag unless deletes: sets one), every record missing from a file would be ${policy === "flag" ? "flagged as deleted" : policy === "archive" ? "archived" : "deleted"}. Set deletes: { policy: ignore }, or each_file: full_list if each file holds all the records`,
      context.at("each_file"),
    ),
  ];
}

/** A file the job applied, as the ledger holds it. */
export interface AppliedFile {
  name: string;
  hash: string;
  runId: number | null;
  processedAt: string;
}

/** What the ledger says of a file's content: the first file applied with it, and the job's last file applied. */
export interface FileHistory {
  firstWithHash: AppliedFile | null;
  lastApplied: AppliedFile | null;
}

export type FileVerdict =
  | { apply: true; /** Why a content applied before is applied again, for the report and the ledger. */ note?: string }
  | { apply: false; previous: AppliedFile; reason: string };

/** Whether a file with content `hash` is applied, or reported as a duplicate of an earlier one. */
export function fileVerdict(kind: EachFile, hash: string, history: FileHistory): FileVerdict {
  const { firstWithHash: first, lastApplied: last } = history;
  if (kind === "changes") {
    if (!first) return { apply: true };
    const reason = `the same content as ${first.name}, applied by run ${first.runId} on ${first.processedAt}: not applied again`;
    return { apply: false, previous: first, reason };
  }
  if (last && last.hash === hash) {
    const reason = `the same content as ${last.name}, the last file applied (run ${last.runId} on ${last.processedAt}): nothing would change, not applied again`;
    return { apply: false, previous: last, reason };
  }
  if (!first || !last) return { apply: true };
  return {
    apply: true,
    note: `the same content as ${first.name} (run ${first.runId}), superseded by ${last.name} (run ${last.runId}): applied again, as each file of this job is the full list`,
  };
}
