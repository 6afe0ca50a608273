/**
 * The `folder` source under `ferry serve`: chokidar watches the folder and says when a file may have
 * become ready; the run that follows decides whether it is.
 */
import path from "node:path";
import { watch } from "chokidar";
import type { Logger } from "../../log.ts";
import { checkRoot } from "./inbox.ts";

export function watchFolder(root: string, log: Logger, onArrival: () => void, signal: AbortSignal): void {
  checkRoot(root);
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
