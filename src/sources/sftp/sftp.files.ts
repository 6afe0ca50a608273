/**
 * The `sftp` source's files: each run connects, lists the folder twice `stable_for` apart and takes the
 * files whose size and time did not change, skips those the ledger holds as taken and still on the
 * server (same name, size and time: `seenRemote`), downloads each to a local copy (checked against the
 * remote size) and hands it on to be applied as a run of its own. Once a file is settled, the post-action
 * runs on the server, and the ledger is told when it took the file off the server.
 */
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { durationMs } from "../../config/duration.ts";
import { fileSource } from "../../files/file-source.ts";
import { settleFile } from "../../files/lifecycle.ts";
import { TransientError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { FilesOptions, IncomingFile } from "../source.ts";
import type { RemoteFile, SftpSession } from "./sftp.client.ts";
import type { SftpSourceConfig } from "./sftp.config.ts";

/** An sftp source's settings, as its factory worked them out from the job and the run's context. */
export interface RemoteFolder {
  config: SftpSourceConfig;
  /** `sftp://host:port`, for names and messages. */
  server: string;
  pattern: RegExp;
  /** The folder of local copies (processing/, archive/, failed/, plan/). */
  local: string;
  /** The project's folder: where a settled file is said to have gone is relative to it. */
  baseDir: string;
  log: Logger;
  /** Opens a session, logged in. */
  connect: () => Promise<SftpSession>;
}

const today = () => new Date().toISOString().slice(0, 10);

export async function* sftpFiles(folder: RemoteFolder, signal: AbortSignal, options: FilesOptions = {}): AsyncGenerator<IncomingFile> {
  const { config, log } = folder;
  const session = await folder.connect();
  try {
    const processing = path.join(folder.local, options.dryRun ? "plan" : "processing");
    await mkdir(processing, { recursive: true });
    for (const remote of await stable(folder, session, signal)) {
      signal.throwIfAborted();
      const mtime = new Date(remote.mtimeMs).toISOString();
      if (!options.dryRun && (await options.alreadyTaken?.(remote.name, remote.size, mtime))) {
        // Taken before and still there: a post-action that failed then (the server was gone) is tried again.
        if (config.after.action !== "leave") await retryAfter(folder, session, remote, mtime, options);
        continue;
      }
      if (remote.size > config.max_file_bytes) {
        log.warn({ file: remote.name, size: remote.size }, `skipped: more than max_file_bytes (${config.max_file_bytes})`);
        continue;
      }
      const target = path.join(processing, remote.name);
      const hash = await session.download(remote, target, durationMs(config.transfer_timeout));
      yield downloaded(folder, session, remote, { target, mtime, hash, dryRun: options.dryRun, removed: options.removed });
    }
  } finally {
    await session.close();
  }
}

/** The files whose size and time are the same in two listings `stable_for` apart. */
async function stable({ config, pattern }: RemoteFolder, session: SftpSession, signal: AbortSignal): Promise<RemoteFile[]> {
  const first = await session.list(config.folder, pattern);
  if (first.length === 0) return [];
  await sleep(durationMs(config.stable_for), undefined, { signal });
  const second = new Map((await session.list(config.folder, pattern)).map((f) => [f.name, f]));
  return first.filter((f) => {
    const again = second.get(f.name);
    return again !== undefined && again.size === f.size && again.mtimeMs === f.mtimeMs;
  });
}

/** The post-action of a file taken before that is still on the server; once done, the ledger knows. */
async function retryAfter(
  folder: RemoteFolder,
  session: SftpSession,
  remote: RemoteFile,
  mtime: string,
  options: FilesOptions,
): Promise<void> {
  let done: string;
  try {
    done = await session.after(remote, folder.config.after);
  } catch (e) {
    folder.log.info({ file: remote.name, after: `not done: ${(e as Error).message}` }, "file already taken");
    return;
  }
  await options.removed?.(remote.name, remote.size, mtime);
  folder.log.info({ file: remote.name, after: done }, "file already taken");
}

/** A remote file downloaded to `target`, to be applied and then settled here and on the server. */
function downloaded(
  folder: RemoteFolder,
  session: SftpSession,
  remote: RemoteFile,
  copy: { target: string; mtime: string; hash: string; dryRun: boolean | undefined; removed: FilesOptions["removed"] },
): IncomingFile {
  const { config, server, log } = folder;
  const { target } = copy;
  const reportPath = `${target}.report.csv`;
  return {
    name: remote.name,
    size: remote.size,
    mtime: copy.mtime,
    hash: copy.hash,
    reportPath,
    open: (onLine) => fileSource(target, config.format, { name: `${server}${remote.path}`, describe: `sftp ${server}${remote.path}`, onLine }),
    changed: () => (copy.dryRun ? Promise.resolve(null) : changedOnServer(folder, session, remote)),
    putBack: async () => {
      await rm(target, { force: true });
      await rm(reportPath, { force: true });
      log.warn({ file: remote.name }, "file left on the server: it changed while it was read");
      return `${server}${remote.path} (left on the server)`;
    },
    settle: async (outcome) => {
      if (copy.dryRun) {
        await rm(target, { force: true });
        await rm(reportPath, { force: true });
        return "";
      }
      const where = outcome === "failed" ? "failed" : "archive";
      const kept = await settleFile(folder.local, target, reportPath, where, today());
      // A file that failed is left on the server: it is not taken again until it changes.
      const after = outcome === "failed" ? "left" : await session.after(remote, config.after);
      if (outcome !== "failed" && config.after.action !== "leave") await copy.removed?.(remote.name, remote.size, copy.mtime);
      log.info({ file: remote.name, outcome, after }, "file settled");
      return `${path.relative(folder.baseDir, kept)} (on the server: ${after})`;
    },
  };
}

/**
 * Whether the remote file changed since it was listed (a writer still uploading or appending to it): its
 * size and time now, asked of the server within transfer_timeout. A server that cannot say counts as a
 * change: the file is left there for the next run rather than applied and moved unchecked. Null when it
 * is unchanged (or gone, which the post-action will say).
 */
async function changedOnServer(folder: RemoteFolder, session: SftpSession, remote: RemoteFile): Promise<TransientError | null> {
  const { server, config } = folder;
  const where = `${server}${remote.path}`;
  const then = `nothing of it was applied; it is left on the server, to be taken again once complete`;
  const ms = durationMs(config.transfer_timeout);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  let now: Awaited<ReturnType<SftpSession["stat"]>>;
  try {
    now = await Promise.race([session.stat(remote.path), deadline]);
  } catch (e) {
    return new TransientError("SOURCE_FILE_CHANGED", `${where}: could not check that it did not change while it was read (${(e as Error).message}): ${then}`, {
      cause: e,
    });
  } finally {
    clearTimeout(timer);
  }
  if (!now || (now.size === remote.size && now.mtimeMs === remote.mtimeMs)) return null;
  const how = now.size === remote.size ? "its time changed" : `${remote.size} bytes when listed, ${now.size} now`;
  return new TransientError("SOURCE_FILE_CHANGED", `${where} changed while it was read (${how}): ${then}`, {
    details: { file: remote.path, size: remote.size, sizeNow: now.size },
  });
}
