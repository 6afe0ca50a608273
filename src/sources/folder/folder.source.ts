/**
 * `folder` source: CSV or fixed-width files analysts drop into a folder. `ferry run` takes what is waiting
 * and complete, once; `ferry serve` also watches the folder (chokidar) and runs the job when a file lands.
 * Each file is its own run, applied whole or not at all, and ends in archive/ or failed/ with its report.
 */
import { existsSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { watch } from "chokidar";
import { durationMs } from "../../config/duration.ts";
import { ConfigError } from "../../errors.ts";
import { fileSource } from "../../files/file-source.ts";
import type { IncomingFile, Source, SourceContext, SourceDefinition } from "../source.ts";
import { type FolderSourceConfig, folderSourceSchema } from "./folder.config.ts";
import { globToRegExp, settleFile, sha256 } from "../../files/lifecycle.ts";
import { ensureFolders, markedOnes, refuse, scan, stableOnes, take } from "./inbox.ts";

const today = () => new Date().toISOString().slice(0, 10);

export function createFolderSource(config: FolderSourceConfig, context: SourceContext): Source {
  const root = path.resolve(context.baseDir, config.path);
  const pattern = globToRegExp(config.pattern);
  const marker = "marker" in config.ready;
  const stableMs = "stable_for" in config.ready ? durationMs(config.ready.stable_for) : 0;
  const log = context.log.child({ folder: config.path });

  const checkRoot = () => {
    if (!existsSync(root) || !statSync(root).isDirectory()) {
      throw new ConfigError("SOURCE_FOLDER_MISSING", `the folder ${root} does not exist: create it, or fix source.path`, {
        file: "job",
        path: "source.path",
      });
    }
  };

  function incoming(file: string, name: string, size: number, mtime: string, hash: string): IncomingFile {
    const reportPath = `${file}.report.csv`;
    return {
      name,
      size,
      mtime,
      hash,
      reportPath,
      open: (onLine) => fileSource(file, config.format, { name, describe: `folder ${config.path}: ${name}`, onLine }),
      settle: async (outcome) => {
        const where = outcome === "failed" ? "failed" : "archive";
        const report = existsSync(reportPath) ? reportPath : null;
        const target = await settleFile(root, file, report, where, today());
        log.info({ file: name, outcome, to: path.relative(root, target) }, "file settled");
        return path.relative(context.baseDir, target);
      },
    };
  }

  async function* peek(signal: AbortSignal): AsyncGenerator<IncomingFile> {
    const { files: candidates } = await scan(root, pattern, config.max_file_bytes);
    const ready = marker ? await markedOnes(candidates) : await stableOnes(candidates, stableMs, signal);
    const scratch = await mkdtemp(path.join(os.tmpdir(), "ferry-plan-"));
    try {
      for (const f of ready) {
        const file = incoming(f.path, f.name, f.size, new Date(f.mtimeMs).toISOString(), await sha256(f.path));
        yield { ...file, reportPath: path.join(scratch, `${f.name}.report.csv`), settle: async () => "" };
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  async function* files(signal: AbortSignal, options: { dryRun?: boolean } = {}): AsyncGenerator<IncomingFile> {
    checkRoot();
    if (options.dryRun) {
      yield* peek(signal);
      return;
    }
    await ensureFolders(root);
    // Files left in processing/ by a run that stopped: taken before, so they go first.
    const leftovers = await scan(path.join(root, "processing"), /^(?!.*\.report\.csv(\.lines|\.tmp)?$).*$/, Number.MAX_SAFE_INTEGER);
    for (const f of leftovers.files) {
      signal.throwIfAborted();
      yield incoming(f.path, f.name, f.size, new Date(f.mtimeMs).toISOString(), await sha256(f.path));
    }
    const { files: candidates, refused } = await scan(root, pattern, config.max_file_bytes);
    for (const r of refused) {
      const to = await refuse(root, r, today());
      log.warn({ file: r.name, reason: r.reason, to: path.relative(root, to) }, "file refused");
    }
    const ready = marker ? await markedOnes(candidates) : await stableOnes(candidates, stableMs, signal);
    for (const f of ready) {
      signal.throwIfAborted();
      const taken = await take(root, f, marker);
      yield incoming(taken, f.name, f.size, new Date(f.mtimeMs).toISOString(), await sha256(taken));
    }
  }

  function watchFolder(onArrival: () => void, signal: AbortSignal): void {
    checkRoot();
    const watcher = watch(root, {
      depth: 0,
      followSymlinks: false,
      ignoreInitial: false,
      ignored: (p: string) => path.dirname(p) === root && /^(processing|archive|failed)$/.test(path.basename(p)),
    });
    watcher.on("add", () => onArrival());
    watcher.on("change", () => onArrival());
    watcher.on("error", (e) => log.error({ err: String(e) }, "watching the folder failed"));
    signal.addEventListener("abort", () => void watcher.close(), { once: true });
  }

  return {
    describe: `folder ${config.path}`,
    commitUnit: "run",
    read: () => {
      throw new Error("a folder source is read file by file (files())");
    },
    files,
    watch: watchFolder,
    close: async () => {},
  };
}

export const folderSource: SourceDefinition<FolderSourceConfig> = {
  type: "folder",
  configSchema: folderSourceSchema,
  modes: ["snapshot"],
  modesNote: "a file is read whole",
  columnsFrom: "file",
  create: createFolderSource,
};
