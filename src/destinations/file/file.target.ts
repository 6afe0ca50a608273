/**
 * Where the `file` destination puts a file: a local folder or a folder on an SFTP server. Either way a file
 * is written under a temporary name in the same folder (`.<name>.partial`, hidden, with a suffix no import
 * pattern matches) and renamed over the final name only once it is whole, so a reader never sees half a
 * file and a file written again replaces the old one. A failure removes the temporary file (best effort).
 *
 * Errors: a folder that cannot be created or written is the configuration's to fix (PermanentError
 * `DEST_FILE_FOLDER`, naming the folder); anything else (disk full, the server gone, a dropped
 * connection) is a TransientError: the destination is unavailable and the items stay pending.
 */
import type { Secret } from "../../config/secrets.ts";
import { mkdir, open, rename, rm } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { durationMs } from "../../config/duration.ts";
import { FerryError, PermanentError, TransientError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { openSftpLogin, type SftpSession } from "../../sources/sftp/sftp.client.ts";
import type { SftpTargetConfig } from "./file.config.ts";

export interface FileTarget {
  /** The folder, for messages: a local path or `sftp://host:port/folder`. */
  readonly where: string;
  /**
   * Writes the file `name` with the text `render()` yields, atomically. `render` may be called more than once
   * (a retry on a fresh connection) and yields the same text each time.
   */
  put(name: string, render: () => Iterable<string>, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export const partialName = (name: string) => `.${name}.partial`;

const retryLater = "The items stay pending and are sent again";

function folderError(where: string, reason: string, who: string, field: string, cause: unknown): PermanentError {
  return new PermanentError(
    "DEST_FILE_FOLDER",
    `cannot write files into ${where}: ${reason}. Create the folder or give ${who} the right to write in it, or change ${field}`,
    { cause, details: { folder: where } },
  );
}

/** A local folder; `folder` is absolute. */
export function localTarget(folder: string): FileTarget {
  /** Errors about the folder itself, whatever the step: the configuration's to fix. */
  const FOLDER_CODES = new Set(["EACCES", "EPERM", "EROFS", "ENOTDIR", "EEXIST"]);
  const WHO = "the user Ferry runs as";
  const FIELD = "target.folder";

  const classify = (e: unknown, what: string): FerryError => {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    if (FOLDER_CODES.has(code)) return folderError(folder, `${what}: ${code}`, WHO, FIELD, e);
    return new TransientError("DEST_UNAVAILABLE", `${what} in ${folder} failed: ${(e as Error).message}. ${retryLater}`, {
      cause: e,
      details: { folder },
    });
  };

  return {
    where: folder,
    async put(name, render, signal) {
      signal.throwIfAborted();
      const final = path.join(folder, name);
      const part = path.join(folder, partialName(name));
      try {
        await mkdir(folder, { recursive: true });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? "";
        throw code === "ENOENT" ? folderError(folder, "a parent folder is missing", WHO, FIELD, e) : classify(e, "creating the folder");
      }
      try {
        // A partial file left by a crash, or anything else under that name: never written through.
        await rm(part, { force: true });
        const handle = await open(part, "wx");
        try {
          for (const chunk of render()) {
            signal.throwIfAborted();
            await handle.write(chunk);
          }
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(part, final);
      } catch (e) {
        await rm(part, { force: true }).catch(() => {});
        signal.throwIfAborted();
        throw classify(e, `writing ${name}`);
      }
      // The rename is durable once the folder's entry is: sync it where the platform allows a folder to be opened.
      const dir = await open(folder, "r").catch(() => null);
      await dir?.sync().catch(() => {});
      await dir?.close().catch(() => {});
    },
    close: async () => {},
  };
}

export interface SftpTargetOptions {
  /** Resolves a field of the destination's block (`target.sftp.password`) into a Secret. */
  secret: (field: string, reference: string) => Secret;
  log: Logger;
}

/** Where an SFTP target writes, for its messages. */
interface SftpPlace {
  /** `sftp://host:port`. */
  server: string;
  /** The folder on the server, for messages: `folder on sftp://host:port`. */
  where: string;
  config: SftpTargetConfig;
}

/** The classified errors of SftpSession, as a destination's. */
function sftpError(e: unknown, connecting: boolean, { server, where, config }: SftpPlace): FerryError {
  if (!(e instanceof FerryError)) {
    return new TransientError("DEST_UNAVAILABLE", `${where}: ${(e as Error).message}. ${retryLater}`, { cause: e });
  }
  if (e.code.startsWith("DEST_")) return e;
  const message = e.message.replace(/\. The next run retries$/, "");
  switch (e.code) {
    case "SOURCE_SFTP_HOST_KEY_MISMATCH":
      return new PermanentError("DEST_SFTP_HOST_KEY_MISMATCH", message, { cause: e });
    case "SOURCE_SFTP_LOGIN_REFUSED":
      return new PermanentError("DEST_UNAUTHORIZED", `${message} of the destination's target`, { cause: e });
    case "SOURCE_SFTP_NOT_FOUND":
    case "SOURCE_SFTP_PERMISSION":
      return folderError(where, message.replace(` on ${server}`, ""), `the login ${config.username}`, "target.sftp.folder", e);
    default:
      return new TransientError(connecting ? "DEST_UNREACHABLE" : "DEST_UNAVAILABLE", `${message}. ${retryLater}`, { cause: e });
  }
}

/** Uploads the file under its temporary name and renames it over `name`; a failure removes the temporary file (best effort). */
async function uploadAtomically(
  s: SftpSession,
  { server, config }: SftpPlace,
  name: string,
  render: () => Iterable<string>,
  signal: AbortSignal,
): Promise<void> {
  const part = path.posix.join(config.folder, partialName(name));
  let sent = 0;
  const body = Readable.from(
    (function* () {
      for (const chunk of render()) {
        signal.throwIfAborted();
        const bytes = Buffer.from(chunk, "utf8");
        sent += bytes.length;
        yield bytes;
      }
    })(),
  );
  try {
    const size = await s.upload(body, part, durationMs(config.transfer_timeout));
    if (size !== sent) {
      throw new TransientError(
        "DEST_SFTP_INCOMPLETE",
        `${server} holds ${size} bytes of ${part}, not the ${sent} written: the file was not put in place. ${retryLater}`,
      );
    }
    await s.rename(part, path.posix.join(config.folder, name), { replace: true });
  } catch (e) {
    await s.remove(part, { missingOk: true }).catch(() => {});
    throw e;
  }
}

/**
 * A folder on an SFTP server. The connection opens on the first file, is reused for the next ones, and is
 * opened again when it dropped in between: a write on a reused connection that fails as transient is tried
 * once more on a new one (writing the same file again is harmless).
 */
export function sftpTarget(config: SftpTargetConfig, options: SftpTargetOptions): FileTarget {
  const server = `sftp://${config.host}:${config.port}`;
  const place: SftpPlace = { server, where: `${config.folder} on ${server}`, config };
  const log = options.log.child({ sftp: `${server}${config.folder}` });
  let session: SftpSession | null = null;
  let folderReady = false;

  const connect = async (): Promise<SftpSession> => {
    try {
      return await openSftpLogin(config, (field, reference) => options.secret(`target.sftp.${field}`, reference), log);
    } catch (e) {
      throw sftpError(e, true, place);
    }
  };

  const drop = async () => {
    const old = session;
    session = null;
    folderReady = false;
    await old?.close();
  };

  async function attempt(s: SftpSession, name: string, render: () => Iterable<string>, signal: AbortSignal) {
    if (!folderReady) {
      await s.mkdir(config.folder);
      folderReady = true;
    }
    await uploadAtomically(s, place, name, render, signal);
  }

  /** Removes a partial file the failed connection could not, on a connection of its own (best effort). */
  async function cleanUp(name: string) {
    const s = await connect().catch(() => null);
    await s?.remove(path.posix.join(config.folder, partialName(name)), { missingOk: true }).catch(() => {});
    await s?.close();
  }

  return {
    where: place.where,
    async put(name, render, signal) {
      for (let round = 1; ; round++) {
        signal.throwIfAborted();
        const reused = session !== null;
        session ??= await connect();
        try {
          await attempt(session, name, render, signal);
          return;
        } catch (e) {
          // The folder is checked again by the next write: someone may have removed it, or fixed it.
          folderReady = false;
          signal.throwIfAborted();
          const error = sftpError(e, false, place);
          if (!(error instanceof TransientError)) throw error;
          await drop();
          if (reused && round === 1) {
            log.info({ err: error.message }, "the SFTP connection failed; writing the file again on a new one");
            continue;
          }
          await cleanUp(name);
          throw error;
        }
      }
    },
    close: drop,
  };
}
