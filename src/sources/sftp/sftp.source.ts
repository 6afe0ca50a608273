/**
 * `sftp` source: the files a legacy system leaves on an SFTP server. Each run connects (the server's host
 * key checked against the pinned fingerprint), lists the folder twice `stable_for` apart and takes the
 * files whose size and time did not change, skips those the ledger already holds, downloads each to a
 * local copy (checked against the remote size) and applies it as a run of its own, like a dropped file.
 * Once a file is applied, the post-action runs on the server. A connection that drops fails that file
 * cleanly; the next run retries it.
 */
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { durationMs } from "../../config/duration.ts";
import { fileSource } from "../../files/file-source.ts";
import { globToRegExp, settleFile } from "../../files/lifecycle.ts";
import type { FilesOptions, IncomingFile, Source, SourceContext, SourceDefinition } from "../source.ts";
import { openSftpLogin, type RemoteFile, type SftpSession } from "./sftp.client.ts";
import { type SftpSourceConfig, sftpSourceSchema } from "./sftp.config.ts";

const today = () => new Date().toISOString().slice(0, 10);

export function createSftpSource(config: SftpSourceConfig, context: SourceContext): Source {
  const pattern = globToRegExp(config.pattern);
  const server = `sftp://${config.host}:${config.port}`;
  const log = context.log.child({ sftp: `${server}${config.folder}` });
  // Local copies live in the project's .ferry folder, one folder per server and remote folder.
  const slug = `${config.host}-${config.port}${config.folder}`.replace(/[^A-Za-z0-9.-]+/g, "_");
  const local = path.join(context.baseDir, ".ferry", "sftp", slug);
  const connect = () =>
    openSftpLogin(config, { env: context.env, baseDir: context.baseDir, file: "job", path: "source" }, log);

  /** The files whose size and time are the same in two listings `stable_for` apart. */
  async function stable(session: SftpSession, signal: AbortSignal): Promise<RemoteFile[]> {
    const first = await session.list(config.folder, pattern);
    if (first.length === 0) return [];
    await sleep(durationMs(config.stable_for), undefined, { signal });
    const second = new Map((await session.list(config.folder, pattern)).map((f) => [f.name, f]));
    return first.filter((f) => {
      const again = second.get(f.name);
      return again !== undefined && again.size === f.size && again.mtimeMs === f.mtimeMs;
    });
  }

  async function* files(signal: AbortSignal, options: FilesOptions = {}): AsyncGenerator<IncomingFile> {
    const session = await connect();
    try {
      const processing = path.join(local, options.dryRun ? "plan" : "processing");
      await mkdir(processing, { recursive: true });
      for (const remote of await stable(session, signal)) {
        signal.throwIfAborted();
        const mtime = new Date(remote.mtimeMs).toISOString();
        if (!options.dryRun && (await options.alreadyTaken?.(remote.name, remote.size, mtime))) {
          // Taken before; a post-action that failed then (the server was gone) is tried again.
          if (config.after.action !== "leave") {
            const done = await session.after(remote, config.after).catch((e: Error) => `not done: ${e.message}`);
            log.info({ file: remote.name, after: done }, "file already taken");
          }
          continue;
        }
        if (remote.size > config.max_file_bytes) {
          log.warn({ file: remote.name, size: remote.size }, `skipped: more than max_file_bytes (${config.max_file_bytes})`);
          continue;
        }
        const target = path.join(processing, remote.name);
        const hash = await session.download(remote, target, durationMs(config.transfer_timeout));
        const reportPath = `${target}.report.csv`;
        yield {
          name: remote.name,
          size: remote.size,
          mtime,
          hash,
          reportPath,
          open: (onLine) => fileSource(target, config.format, { name: `${server}${remote.path}`, describe: `sftp ${server}${remote.path}`, onLine }),
          settle: async (outcome) => {
            if (options.dryRun) {
              await rm(target, { force: true });
              await rm(reportPath, { force: true });
              return "";
            }
            const where = outcome === "failed" ? "failed" : "archive";
            const kept = await settleFile(local, target, reportPath, where, today());
            // A file that failed is left on the server: it is not taken again until it changes.
            const after = outcome === "failed" ? "left" : await session.after(remote, config.after);
            log.info({ file: remote.name, outcome, after }, "file settled");
            return `${path.relative(context.baseDir, kept)} (on the server: ${after})`;
          },
        };
      }
    } finally {
      await session.close();
    }
  }

  return {
    describe: `sftp ${server}${config.folder}`,
    commitUnit: "run",
    read: () => {
      throw new Error("an sftp source is read file by file (files())");
    },
    files,
    close: async () => {},
  };
}

export const sftpSource: SourceDefinition<SftpSourceConfig> = {
  type: "sftp",
  configSchema: sftpSourceSchema,
  modes: ["snapshot"],
  modesNote: "a file is read whole",
  columnsFrom: "file",
  create: createSftpSource,
};
