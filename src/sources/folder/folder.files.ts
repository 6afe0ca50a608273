/**
 * The `folder` source's files: what is waiting in the folder and complete, taken into processing/ one at a
 * time (files a stopped run left there first), or, for a dry run, read where they are with nothing moved.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileSource } from "../../files/file-source.ts";
import { settleFile, sha256 } from "../../files/lifecycle.ts";
import type { Logger } from "../../log.ts";
import type { FilesOptions, IncomingFile } from "../source.ts";
import type { FolderSourceConfig } from "./folder.config.ts";
import { type Candidate, checkRoot, ensureFolders, markedOnes, refuse, scan, stableOnes, take } from "./inbox.ts";

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
      yield { ...file, reportPath: path.join(scratch, `${f.name}.report.csv`), settle: async () => "" };
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
    settle: async (outcome) => {
      const where = outcome === "failed" ? "failed" : "archive";
      const report = existsSync(reportPath) ? reportPath : null;
      const target = await settleFile(root, file, report, where, today());
      log.info({ file: name, outcome, to: path.relative(root, target) }, "file settled");
      return path.relative(folder.baseDir, target);
    },
  };
}
