/**
 * The only place that talks to an SFTP server: connect with the host key checked against the pinned
 * fingerprint, list a folder, download a file to a local path with a stall timeout and a size check, and
 * apply the post-action; for the `file` destination, create folders and upload, rename and delete files.
 * Errors come out classified: a host key that does not match or a refused login is the configuration's to
 * fix; a dropped or stalled connection is worth retrying on the next run.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import net from "node:net";
import path from "node:path/posix";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import SftpClient from "ssh2-sftp-client";
import { durationMs } from "../../config/duration.ts";
import type { Secret } from "../../config/secrets.ts";
import { ConfigError, type FerryError, TransientError } from "../../errors.ts";
import type { Logger } from "../../log.ts";

export interface RemoteFile {
  name: string;
  path: string;
  size: number;
  /** Milliseconds since the epoch, as the server reports it. */
  mtimeMs: number;
}

export interface ConnectOptions {
  host: string;
  port: number;
  username: string;
  password?: string;
  privateKey?: string;
  passphrase?: string;
  /** `SHA256:...`, or null to accept any key (the opt-out). */
  hostKey: string | null;
  connectTimeoutMs: number;
}

/** `SHA256:` and the unpadded base64 of the key's SHA-256, as ssh-keygen -lf prints it. */
export function fingerprintOfHex(hex: string): string {
  return `SHA256:${Buffer.from(hex, "hex").toString("base64").replace(/=+$/, "")}`;
}

function classify(e: unknown, what: string, server: string): FerryError {
  const err = e as { code?: string; level?: string; message?: string };
  const message = (err.message ?? String(e)).replace(/^[a-zA-Z]+: /, "");
  if (err.level === "client-authentication" || /authentication|auth fail/i.test(message)) {
    return new ConfigError("SOURCE_SFTP_LOGIN_REFUSED", `${server} refused the login (${message}): check username and credentials`, undefined, {
      cause: e,
    });
  }
  if (/no such file|ENOENT/i.test(message) || err.code === "ERR_NOT_FOUND" || String(err.code) === "2") {
    return new ConfigError("SOURCE_SFTP_NOT_FOUND", `${what} on ${server}: no such file or folder (${message})`, undefined, { cause: e });
  }
  if (/permission denied/i.test(message) || String(err.code) === "3") {
    return new ConfigError("SOURCE_SFTP_PERMISSION", `${what} on ${server}: permission denied; check the login's rights on the server`, undefined, {
      cause: e,
    });
  }
  return new TransientError("SOURCE_UNAVAILABLE", `${what} on ${server} failed: ${message}. The next run retries`, { cause: e });
}

export class SftpSession {
  readonly #client = new SftpClient("ferry");
  readonly #server: string;
  #seenKey: string | null = null;
  #sock: net.Socket | null = null;

  private constructor(server: string) {
    this.#server = server;
  }

  static async open(o: ConnectOptions): Promise<SftpSession> {
    const session = new SftpSession(`sftp://${o.host}:${o.port}`);
    await session.#connect(o);
    return session;
  }

  async #connect(o: ConnectOptions): Promise<void> {
    // Nagle's algorithm left on makes every SFTP round trip wait for the peer's delayed ACK (about 40-90 ms).
    const sock = net.connect({ host: o.host, port: o.port, noDelay: true });
    sock.setNoDelay(true);
    this.#sock = sock;
    try {
      await this.#client.connect({
        sock,
        host: o.host,
        port: o.port,
        username: o.username,
        ...(o.password !== undefined ? { password: o.password } : {}),
        ...(o.privateKey !== undefined ? { privateKey: o.privateKey } : {}),
        ...(o.passphrase !== undefined ? { passphrase: o.passphrase } : {}),
        readyTimeout: o.connectTimeoutMs,
        hostHash: "sha256",
        hostVerifier: ((hash: string) => {
          this.#seenKey = fingerprintOfHex(hash);
          return o.hostKey === null || this.#seenKey === o.hostKey.replace(/=+$/, "");
        }) as unknown as (key: Buffer) => boolean,
        retries: 0,
      } as SftpClient.ConnectOptions);
    } catch (e) {
      sock.destroy();
      if (o.hostKey !== null && this.#seenKey !== null && this.#seenKey !== o.hostKey.replace(/=+$/, "")) {
        throw new ConfigError(
          "SOURCE_SFTP_HOST_KEY_MISMATCH",
          `${this.#server} presented host key ${this.#seenKey}, not the pinned ${o.hostKey}: Ferry did not log in. If the server's key really changed, confirm the new fingerprint with its administrators and update host_key`,
          undefined,
          { cause: e },
        );
      }
      throw classify(e, "connecting", this.#server);
    }
  }

  /** The key the server presented, as a fingerprint. */
  get hostKey(): string | null {
    return this.#seenKey;
  }

  async list(folder: string, pattern: RegExp): Promise<RemoteFile[]> {
    try {
      const entries = await this.#client.list(folder);
      return entries
        .filter((e) => e.type === "-" && pattern.test(e.name))
        .map((e) => ({ name: e.name, path: path.join(folder, e.name), size: e.size, mtimeMs: e.modifyTime }))
        .sort((a, b) => a.mtimeMs - b.mtimeMs || a.name.localeCompare(b.name));
    } catch (e) {
      throw classify(e, `listing ${folder}`, this.#server);
    }
  }

  /** A remote file's size and time now, as a listing gives them; null when it is gone. */
  async stat(file: string): Promise<{ size: number; mtimeMs: number } | null> {
    try {
      const s = await this.#client.stat(file);
      return { size: s.size, mtimeMs: s.modifyTime };
    } catch (e) {
      const error = classify(e, `reading the size and time of ${file}`, this.#server);
      if (error.code === "SOURCE_SFTP_NOT_FOUND") return null;
      throw error;
    }
  }

  /**
   * Downloads to `target` through `target.part`; fails when nothing arrives for `stallMs` or when the
   * local size differs from the remote one. Returns the content's SHA-256.
   */
  async download(file: RemoteFile, target: string, stallMs: number): Promise<string> {
    const part = `${target}.part`;
    const hash = createHash("sha256");
    const remote = this.#client.createReadStream(file.path, {});
    let timer: NodeJS.Timeout | undefined;
    const stalled = () => remote.destroy(new Error(`no data for ${stallMs} ms`));
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(stalled, stallMs);
    };
    remote.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      arm();
    });
    // A stream whose handle fails to close after the last byte reports it here, not as an uncaught error.
    remote.on("error", () => {});
    arm();
    try {
      await pipeline(remote, createWriteStream(part));
    } catch (e) {
      await rm(part, { force: true });
      throw classify(e, `downloading ${file.path}`, this.#server);
    } finally {
      clearTimeout(timer);
    }
    const size = (await stat(part)).size;
    if (size !== file.size) {
      await rm(part, { force: true });
      throw new TransientError(
        "SOURCE_SFTP_INCOMPLETE",
        `downloading ${file.path} from ${this.#server} gave ${size} bytes, not the ${file.size} listed: the file was not used. The next run retries`,
      );
    }
    await rename(part, target);
    return hash.digest("hex");
  }

  /** The post-action for a file that was applied: moved (under a free name), deleted, or left. */
  async after(file: RemoteFile, action: { action: "move"; to: string } | { action: "delete" } | { action: "leave" }): Promise<string> {
    try {
      if (action.action === "delete") {
        await this.#client.delete(file.path);
        return "deleted";
      }
      if (action.action === "move") {
        if (!(await this.#client.exists(action.to))) await this.#client.mkdir(action.to, true);
        const ext = path.extname(file.name);
        const base = file.name.slice(0, file.name.length - ext.length);
        for (let n = 1; ; n++) {
          const target = path.join(action.to, n === 1 ? file.name : `${base} (${n})${ext}`);
          if (await this.#client.exists(target)) continue;
          await this.#client.rename(file.path, target);
          return `moved to ${target}`;
        }
      }
      return "left";
    } catch (e) {
      throw classify(e, `${action.action === "move" ? "moving" : "deleting"} ${file.path}`, this.#server);
    }
  }

  /** Creates a folder and any missing parents; one that exists already is fine. */
  async mkdir(folder: string): Promise<void> {
    try {
      if ((await this.#client.exists(folder)) === "d") return;
      await this.#client.mkdir(folder, true);
    } catch (e) {
      // ssh2-sftp-client's own check: the folder, or one of its parents, is a file.
      if ((e as { code?: string }).code === "ERR_BAD_PATH") {
        throw new ConfigError("SOURCE_SFTP_NOT_FOUND", `creating folder ${folder} on ${this.#server}: a file is in the way`, undefined, { cause: e });
      }
      throw classify(e, `creating folder ${folder}`, this.#server);
    }
  }

  /**
   * Writes `data` to `remotePath`, replacing a file of that name, and returns the size the server reports
   * for the file once it is closed: callers compare it with what they sent. When the transfer makes no
   * progress for `stallMs`, it fails and the connection is cut (a stalled server would hold it forever);
   * the session is then unusable.
   */
  async upload(data: Readable, remotePath: string, stallMs: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    let stalled: (e: Error) => void = () => {};
    const stall = new Promise<never>((_resolve, reject) => {
      stalled = reject;
    });
    let settled = false;
    const arm = () => {
      clearTimeout(timer);
      if (settled) return;
      timer = setTimeout(() => {
        stalled(new Error(`no progress for ${stallMs} ms`));
        // Ending the session politely would wait for the stalled server too.
        this.#sock?.destroy();
      }, stallMs);
    };
    data.on("data", arm);
    arm();
    const transfer = (async () => {
      await this.#client.put(data, remotePath);
      arm();
      return (await this.#client.stat(remotePath)).size;
    })();
    transfer.catch(() => {});
    try {
      return await Promise.race([transfer, stall]);
    } catch (e) {
      throw classify(e, `uploading ${remotePath}`, this.#server);
    } finally {
      settled = true;
      clearTimeout(timer);
      data.off("data", arm);
    }
  }

  /**
   * Renames a file. With `replace`, a file already at `to` is replaced: atomically where the server offers
   * posix-rename@openssh.com, else by removing it first, because a plain SFTP v3 RENAME refuses an existing
   * target (so for a moment neither name holds the old file).
   */
  async rename(from: string, to: string, options: { replace?: boolean } = {}): Promise<void> {
    try {
      if (options.replace) {
        try {
          await this.#client.posixRename(from, to);
          return;
        } catch (e) {
          if (!/does not support/i.test((e as Error).message)) throw e;
        }
        if (await this.#client.exists(to)) await this.#client.delete(to);
      }
      await this.#client.rename(from, to);
    } catch (e) {
      throw classify(e, `renaming ${from} to ${to}`, this.#server);
    }
  }

  /** Deletes a file; with `missingOk`, a file that is not there is not an error. */
  async remove(remotePath: string, options: { missingOk?: boolean } = {}): Promise<void> {
    try {
      await this.#client.delete(remotePath, options.missingOk ?? false);
    } catch (e) {
      throw classify(e, `deleting ${remotePath}`, this.#server);
    }
  }

  async close(): Promise<void> {
    await this.#client.end().catch(() => {});
  }
}

/** An SFTP login as configured (the sftp source, the file destination's SFTP target). */
export interface SftpLoginConfig {
  host: string;
  port: number;
  username: string;
  password?: string | undefined;
  private_key?: string | undefined;
  passphrase?: string | undefined;
  host_key?: string | undefined;
  insecure_accept_any_host_key?: true | undefined;
  connect_timeout: string;
}

/**
 * Opens a session for a configured login: its secret references resolved as late as this, by `resolve`
 * (the connector's context, which names the configuration that holds them), and an unchecked host key
 * logged as a warning on every connection, with the key the server presented, so that it can be pinned.
 */
export async function openSftpLogin(
  config: SftpLoginConfig,
  resolve: (field: string, reference: string) => Secret,
  log: Logger,
): Promise<SftpSession> {
  const server = `sftp://${config.host}:${config.port}`;
  const secret = (field: "password" | "private_key" | "passphrase") => {
    const reference = config[field];
    return reference === undefined ? undefined : resolve(field, reference).reveal();
  };
  if (config.insecure_accept_any_host_key) {
    log.warn({ server }, "the SFTP server's host key is NOT checked (insecure_accept_any_host_key): pin host_key");
  }
  const session = await SftpSession.open({
    host: config.host,
    port: config.port,
    username: config.username,
    password: secret("password"),
    privateKey: secret("private_key"),
    passphrase: secret("passphrase"),
    hostKey: config.host_key ?? null,
    connectTimeoutMs: durationMs(config.connect_timeout),
  });
  if (config.insecure_accept_any_host_key) log.warn({ server, hostKey: session.hostKey }, "the server presented this host key; pin it as host_key");
  return session;
}
