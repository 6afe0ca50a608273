/**
 * `folder` source: CSV or fixed-width files analysts drop into a folder. `ferry run` takes what is waiting
 * and complete, once (folder.files.ts); `ferry serve` also watches the folder (folder.watch.ts) and runs
 * the job when a file lands. Each file is its own run, applied whole or not at all, and ends in archive/
 * or failed/ with its report. This file reads the run's context for both.
 */
import path from "node:path";
import { durationMs } from "../../config/duration.ts";
import { checkEachFile } from "../../files/each-file.ts";
import { globToRegExp } from "../../files/lifecycle.ts";
import type { Source, SourceContext, SourceDefinition } from "../source.ts";
import { type FolderSourceConfig, folderSourceSchema } from "./folder.config.ts";
import { folderFiles, type WatchedFolder } from "./folder.files.ts";
import { watchFolder } from "./folder.watch.ts";

export function createFolderSource(config: FolderSourceConfig, context: SourceContext): Source {
  const folder: WatchedFolder = {
    config,
    root: path.resolve(context.baseDir, config.path),
    baseDir: context.baseDir,
    pattern: globToRegExp(config.pattern),
    marker: "marker" in config.ready,
    stableMs: "stable_for" in config.ready ? durationMs(config.ready.stable_for) : 0,
    log: context.log.child({ folder: config.path }),
  };
  return {
    describe: `folder ${config.path}`,
    commitUnit: "run",
    eachFile: config.each_file,
    read: () => {
      throw new Error("a folder source is read file by file (files())");
    },
    files: (signal, options) => folderFiles(folder, signal, options),
    watch: (onArrival, signal) => watchFolder(folder.root, folder.log, onArrival, signal),
    close: async () => {},
  };
}

export const folderSource: SourceDefinition<FolderSourceConfig> = {
  type: "folder",
  configSchema: folderSourceSchema,
  modes: ["snapshot"],
  modesNote: "a file is read whole",
  columnsFrom: "file",
  validate: checkEachFile,
  create: createFolderSource,
};
