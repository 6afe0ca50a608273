/**
 * The `folder` source's files: what is waiting in the folder and complete, taken into processing/ one at a
 * time (files a stopped run left there first), or, for a dry run, read where they are with nothing moved.
 */
import { existsSync } from "node:fs";
import { lstat, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileSource } from "../../files/file-source.ts";
import { settleFile, sha256 } from "../../files/lifecycle.ts";
import { TransientError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { FilesOptions, IncomingFile } from "../source.ts";
import type { FolderSourceConfig } from "./folder.config.ts";
import { type Candidate, checkRoot, ensureFolders, markedOnes, refuse, returnToRoot, scan, stableOnes, take } from "./inbox.ts";

/** A folder source's settings, as its factory worked them out from the job and the run's context. */
export interface WatchedFolder {
  config: FolderSourceConfig;
  /** The folder, absolute. */
  root: string;
  /** The project's folder: where a settled file is said to have gone is relative to it. */
  baseDir: string;
  pattern: RegExp;
  /** Files are ready once their `.done` marker exists (else once stable for `stableMs`). */
  marker: boolean;
  stableMs: number;
  log: Logger;
}

const today = () => new Date().toISOString().slice(0, 10);

export async function* folderFiles(folder: WatchedFolder, signal: AbortSignal, options: FilesOptions = {}): AsyncGenerator<IncomingFile> {
  const { root, config, log } = folder;
  checkRoot(root);
  if (options.dryRun) {
    yield* peek(folder, signal);
    return;
  }
  await ensureFolders(root);
  // Files left in processing/ by a run that stopped: taken before, so they go first.
  const leftovers = await scan(path.join(root, "processing"), /^(?!.*\.report\.csv(\.lines|\.tmp)?$).*$/, Number.MAX_SAFE_INTEGER);
  for (const f of leftovers.files) {
    signal.throwIfAborted();
    yield incoming(folder, f.path, f, await sha256(f.path));
  }
  const { files: candidates, refused } = await scan(root, folder.pattern, config.max_file_bytes);
  for (const r of refused) {
    const to = await refuse(root, r, today());
    log.warn({ file: r.name, reason: r.reason, to: path.relative(root, to) }, "file refused");
  }
  const ready = await readyOnes(folder, candidates, signal);
  for (const f of ready) {
    signal.throwIfAborted();
    const taken = await take(root, f, folder.marker);
    yield incoming(folder, taken, f, await sha256(taken));
  }
}

/** A dry run: the ready files where they are, their reports in a scratch folder, nothing moved. */
async function* peek(folder: WatchedFolder, signal: AbortSignal): AsyncGenerator<IncomingFile> {
  const { files: candidates } = await scan(folder.root, folder.pattern, folder.config.max_file_bytes);
  const ready = await readyOnes(folder, candidates, signal);
  const scratch = await mkdtemp(path.join(os.tmpdir(), "ferry-plan-"));
  try {
    for (const f of ready) {
      const file = incoming(folder, f.path, f, await sha256(f.path));
      yield { ...file, reportPath: path.join(scratch, `${f.name}.report.csv`), settle: async () => "", changed: async () => null };
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function readyOnes(folder: WatchedFolder, candidates: Candidate[], signal: AbortSignal): Promise<Candidate[]> {
  return folder.marker ? markedOnes(candidates) : stableOnes(candidates, folder.stableMs, signal);
}

/** The file at `file` (found as `found`), to be applied and then settled into archive/ or failed/. */
function incoming(folder: WatchedFolder, file: string, found: Candidate, hash: string): IncomingFile {
  const { root, config, log } = folder;
  const { name, size } = found;
  const reportPath = `${file}.report.csv`;
  return {
    name,
    size,
    mtime: new Date(found.mtimeMs).toISOString(),
    hash,
    reportPath,
    open: (onLine) => fileSource(file, config.format, { name, describe: `folder ${config.path}: ${name}`, onLine }),
    changed: () => changedSince(folder, file, found),
    putBack: async () => {
      const back = await returnToRoot(root, file, name);
      log.warn({ file: name, to: path.relative(root, back) }, "file put back: it changed while it was read");
      return path.relative(folder.baseDir, back);
    },
    settle: async (outcome) => {
      const where = outcome === "failed" ? "failed" : "archive";
      const report = existsSync(reportPath) ? reportPath : null;
      const target = await settleFile(root, file, report, where, today());
      log.info({ file: name, outcome, to: path.relative(root, target) }, "file settled");
      return path.relative(folder.baseDir, target);
    },
  };
}

/**
 * Whether the file at `file` changed since it was found as `found` (its size and time then, checked
 * stable before it was taken): a writer that keeps the file open follows it into processing/. Null when
 * it did not (or is gone, which its settling will say).
 *
 * Whether another process still holds the file open is not asked: /proc/<pid>/fd shows only this user's
 * processes (not a file server's, nor a container's), and a reader that keeps a file open (a spreadsheet,
 * a virus scanner) is no writer, so the answer would hold files back or miss writers. Size and time are
 * the check; writers that pause longer than stable_for should write a .done marker when they finish.
 */
async function changedSince(folder: WatchedFolder, file: string, found: Candidate): Promise<TransientError | null> {
  const now = await lstat(file).catch(() => null);
  if (!now || (now.size === found.size && now.mtimeMs === found.mtimeMs)) return null;
  const how = now.size === found.size
    ? `modified at ${new Date(found.mtimeMs).toISOString()} when taken, at ${new Date(now.mtimeMs).toISOString()} now`
    : `${found.size} bytes when taken, ${now.size} now`;
  const again = folder.marker ? `once ${found.name}.done is written again` : "once complete";
  return new TransientError(
    "SOURCE_FILE_CHANGED",
    `${found.name} changed while it was read (${how}): nothing of it was applied; it is back in the folder, to be taken again ${again}`,
    { details: { file: found.name, size: found.size, sizeNow: now.size } },
  );
}
