/**
 * An in-process SFTP server for tests, built on ssh2's `Server`: it serves a real folder (a fresh temp dir
 * unless one is given) as `/`, listens on 127.0.0.1 with port 0, and can misbehave on demand (drop the
 * connection mid-transfer, stall reads, refuse every login) so the `sftp` source's error paths can be
 * tested without a flaky network.
 *
 * It speaks SFTP v3 as ssh2's client and OpenSSH's `sftp` use it: REALPATH, STAT/LSTAT/FSTAT, OPENDIR/READDIR,
 * OPEN/READ/WRITE/CLOSE, REMOVE, RENAME, MKDIR, RMDIR, SETSTAT/FSETSTAT (accepted, not applied). Anything
 * else is answered OP_UNSUPPORTED by ssh2 itself. Paths are resolved under the root; a path that climbs out
 * of it with `..` is refused (symbolic links inside the root are followed, wherever they point).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { constants as fsConstants, type Stats } from "node:fs";
import { lstat, mkdir, mkdtemp, open, readdir, rename, rm, rmdir, stat, unlink, type FileHandle } from "node:fs/promises";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import ssh2, { type Attributes, type AuthContext, type Connection, type FileEntry, type SFTPWrapper } from "ssh2";

const { Server, utils } = ssh2;
const { STATUS_CODE, OPEN_MODE } = utils.sftp;

export interface SftpUser {
  username: string;
  password?: string;
  /** OpenSSH public key text (`ssh-ed25519 AAAA... comment`). When absent, a key pair is generated for the user. */
  publicKey?: string;
}

export interface SftpFaults {
  /**
   * Close the connection (without an SSH disconnect message, as a dropped link would) once this many bytes
   * of file data have been sent in READ replies on that connection. Counted per connection, so a client
   * that resumes from where it stopped progresses by this much on each new connection.
   */
  dropAfterBytes?: number;
  /** Never answer a READ: the transfer stalls while the connection stays healthy (keepalives still answered). */
  stallReads?: boolean;
  /** Reject every authentication attempt. */
  refuseAuth?: boolean;
}

export interface SftpServerOptions {
  /** Default: one user `ferry` with password `secret` (and a generated key, see `privateKeyFor`). */
  users?: SftpUser[];
  /** Folder served as `/`. Default: a new temp dir, removed by `stop()`; a given folder is left in place. */
  root?: string;
  faults?: SftpFaults;
}

export interface SftpServer {
  host: "127.0.0.1";
  port: number;
  /** Absolute local path of the folder served as `/`. */
  root: string;
  /** As OpenSSH prints it: `SHA256:` + unpadded base64 of the SHA-256 of the host key blob. */
  hostKeyFingerprint: string;
  /** The host public key in SSH wire format (what a client's host verifier receives). */
  hostPublicKey: Buffer;
  /** The generated private key (OpenSSH format) of a user configured without `publicKey`; throws otherwise. */
  privateKeyFor(username: string): string;
  /** Replaces the faults; takes effect on the next request (authentication or READ), even on open connections. */
  setFaults(faults: SftpFaults): void;
  /** TCP connections accepted since start. */
  readonly connections: number;
  /** Connections open now. */
  readonly openConnections: number;
  /** Closes the listener and every connection; removes the root when it was created by the server. */
  stop(): Promise<void>;
}

/** `SHA256:<unpadded base64>`, the fingerprint OpenSSH prints for a public key blob. */
export function openSshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The same fingerprint from the hex digest ssh2 hands a `hostVerifier` when `hostHash: "sha256"` is set. */
export function fingerprintFromSha256Hex(hex: string): string {
  return `SHA256:${Buffer.from(hex, "hex").toString("base64").replace(/=+$/, "")}`;
}

interface ParsedPublicKey {
  type: string;
  blob: Buffer;
  verify(data: Buffer, signature: Buffer, algo?: string): boolean | Error;
}

function parsePublicKey(text: string, what: string): ParsedPublicKey {
  const parsed = utils.parseKey(text);
  if (parsed instanceof Error) throw new Error(`${what}: ${parsed.message}`);
  return { type: parsed.type, blob: parsed.getPublicSSH(), verify: (d, s, a) => parsed.verify(d, s, a) };
}

/**
 * An ed25519 key pair that ssh2 itself can read back. ssh2's generator strips leading zero bytes from the
 * public key, so about one pair in 256 is unreadable ("Malformed OpenSSH public key", mscdex/ssh2#1513):
 * such a pair is drawn again.
 */
export function ed25519KeyPair(comment: string): { public: string; private: string } {
  for (;;) {
    const pair = utils.generateKeyPairSync("ed25519", { comment });
    if (!(utils.parseKey(pair.public) instanceof Error) && !(utils.parseKey(pair.private) instanceof Error)) return pair;
  }
}

interface Account {
  password?: string;
  key: ParsedPublicKey;
  generatedPrivateKey?: string;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function startSftpServer(options: SftpServerOptions = {}): Promise<SftpServer> {
  let faults: SftpFaults = { ...options.faults };

  const accounts = new Map<string, Account>();
  for (const user of options.users ?? [{ username: "ferry", password: "secret" }]) {
    if (user.publicKey !== undefined) {
      accounts.set(user.username, { password: user.password, key: parsePublicKey(user.publicKey, `public key of ${user.username}`) });
    } else {
      const pair = ed25519KeyPair(`${user.username}@ferry-test`);
      accounts.set(user.username, {
        password: user.password,
        key: parsePublicKey(pair.public, "generated key"),
        generatedPrivateKey: pair.private,
      });
    }
  }

  const hostKey = ed25519KeyPair("ferry-test-sftp-host");
  const hostPublicKey = parsePublicKey(hostKey.public, "host key").blob;
  const ownRoot = options.root === undefined;
  const root = path.resolve(options.root ?? (await mkdtemp(path.join(tmpdir(), "ferry-sftp-"))));

  function authenticate(ctx: AuthContext): void {
    const account = accounts.get(ctx.username);
    if (faults.refuseAuth || account === undefined) return ctx.reject(["password", "publickey"]);
    if (ctx.method === "password") {
      return account.password !== undefined && sameSecret(ctx.password, account.password) ? ctx.accept() : ctx.reject();
    }
    if (ctx.method === "publickey") {
      if (ctx.key.algo !== account.key.type || !ctx.key.data.equals(account.key.blob)) return ctx.reject();
      // Without a signature the client only asks whether the key would do; ssh2 answers PK_OK on accept().
      if (ctx.signature === undefined || ctx.blob === undefined) return ctx.accept();
      return account.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true ? ctx.accept() : ctx.reject();
    }
    ctx.reject(["password", "publickey"]);
  }

  const links = new Map<number, Link>(); // by the client's port, which ssh2 reports in `connection`
  const sessions = new Set<SftpSession>();
  let connections = 0;

  const ssh = new Server({ hostKeys: [hostKey.private] }, (client: Connection, info) => {
    const link = links.get(info.port);
    client.on("error", () => {}); // a client vanishing mid-request is what these tests provoke
    client.on("authentication", authenticate);
    client.on("ready", () => {
      client.on("session", (acceptSession) => {
        const session = acceptSession();
        session.on("sftp", (acceptSftp) => {
          const sftp = acceptSftp();
          const s = new SftpSession(sftp, root, () => faults, link);
          sessions.add(s);
          const end = () => {
            sessions.delete(s);
            void s.closeAll();
          };
          sftp.on("close", end);
          sftp.on("end", end);
        });
      });
    });
  });
  ssh.on("error", () => {});

  // Without noDelay, Nagle's algorithm and delayed ACKs hold each small reply ~40 ms: 90 ms per request.
  const tcp: NetServer = createServer({ noDelay: true }, (socket) => {
    connections++;
    const port = socket.remotePort;
    if (port === undefined) return socket.destroy();
    links.set(port, new Link(socket));
    socket.once("close", () => links.delete(port));
    socket.on("error", () => {});
    ssh.injectSocket(socket);
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(0, "127.0.0.1", () => {
      tcp.off("error", reject);
      resolve();
    });
  });
  const address = tcp.address();
  if (address === null || typeof address === "string") throw new Error("SFTP test server: no TCP address");

  let stopped: Promise<void> | undefined;
  return {
    host: "127.0.0.1",
    port: address.port,
    root,
    hostKeyFingerprint: openSshFingerprint(hostPublicKey),
    hostPublicKey,
    privateKeyFor(username) {
      const key = accounts.get(username)?.generatedPrivateKey;
      if (key === undefined) throw new Error(`SFTP test server: no generated key for user ${username}`);
      return key;
    },
    setFaults(f) {
      faults = { ...f };
    },
    get connections() {
      return connections;
    },
    get openConnections() {
      return links.size;
    },
    stop() {
      stopped ??= (async () => {
        const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
        for (const link of links.values()) link.socket.destroy();
        await closed;
        await Promise.all([...sessions].map((s) => s.closeAll()));
        if (ownRoot) await rm(root, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** One TCP connection: what `dropAfterBytes` counts and cuts. */
class Link {
  readonly socket: Socket;
  sentBytes = 0;
  dropped = false;

  constructor(socket: Socket) {
    this.socket = socket;
  }

  /** Ends the connection once what was written is flushed, without an SSH disconnect, then destroys it. */
  drop(): void {
    if (this.dropped) return;
    this.dropped = true;
    this.socket.end(() => this.socket.destroy());
  }
}

/** An open file, or a folder being listed (`pending` holds the entries not yet sent, once read). */
type Handle = { kind: "file"; file: FileHandle } | { kind: "dir"; dir: string; pending?: FileEntry[] };

/** Entries per READDIR reply, as OpenSSH's server sends at most 100, keeping each reply well under a packet. */
const READDIR_BATCH = 100;

class RequestError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function statusOf(e: unknown): { code: number; message: string } {
  if (e instanceof RequestError) return { code: e.status, message: e.message };
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case "ENOENT":
    case "ENOTDIR":
      return { code: STATUS_CODE.NO_SUCH_FILE, message: "No such file" };
    case "EACCES":
    case "EPERM":
      return { code: STATUS_CODE.PERMISSION_DENIED, message: "Permission denied" };
    default:
      return { code: STATUS_CODE.FAILURE, message: err.message ?? String(e) };
  }
}

function attrsOf(st: Stats): Attributes {
  return {
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    atime: Math.floor(st.atimeMs / 1000),
    mtime: Math.floor(st.mtimeMs / 1000),
  };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** An `ls -l` line, as OpenSSH sends in READDIR: clients read the type and permissions from its first 10 characters. */
function longname(name: string, st: Stats): string {
  const type = st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : st.isFile() ? "-" : "?";
  let perms = "";
  for (let shift = 6; shift >= 0; shift -= 3) {
    const bits = (st.mode >> shift) & 7;
    perms += (bits & 4 ? "r" : "-") + (bits & 2 ? "w" : "-") + (bits & 1 ? "x" : "-");
  }
  const d = st.mtime;
  const date = `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2)} ${d.getUTCFullYear()}`;
  return `${type}${perms} ${String(st.nlink).padStart(3)} ${String(st.uid).padEnd(8)} ${String(st.gid).padEnd(8)} ${String(st.size).padStart(8)} ${date} ${name}`;
}

/** Handlers for one SFTP channel. */
class SftpSession {
  private readonly handles = new Map<number, Handle>();
  private nextHandle = 1;
  private readonly sftp: SFTPWrapper;
  private readonly root: string;
  private readonly faults: () => SftpFaults;
  /** Undefined only if the socket closed before ssh2 reported the connection. */
  private readonly link: Link | undefined;

  constructor(sftp: SFTPWrapper, root: string, faults: () => SftpFaults, link: Link | undefined) {
    this.sftp = sftp;
    this.root = root;
    this.faults = faults;
    this.link = link;

    sftp.on("REALPATH", (id, p) => this.run(id, async () => {
      const virtual = this.virtual(p);
      sftp.name(id, [{ filename: virtual, longname: virtual, attrs: {} as Attributes }]);
    }));
    sftp.on("STAT", (id, p) => this.run(id, async () => sftp.attrs(id, attrsOf(await stat(this.real(p))))));
    sftp.on("LSTAT", (id, p) => this.run(id, async () => sftp.attrs(id, attrsOf(await lstat(this.real(p))))));
    sftp.on("FSTAT", (id, h) => this.run(id, async () => sftp.attrs(id, attrsOf(await this.file(h).stat()))));
    sftp.on("SETSTAT", (id, p) => this.run(id, async () => {
      await lstat(this.real(p));
      this.ok(id);
    }));
    sftp.on("FSETSTAT", (id, h) => this.run(id, async () => {
      this.handle(h);
      this.ok(id);
    }));
    sftp.on("OPENDIR", (id, p) => this.run(id, async () => {
      const dir = this.real(p);
      if (!(await stat(dir)).isDirectory()) throw new RequestError(STATUS_CODE.FAILURE, "Not a directory");
      sftp.handle(id, this.register({ kind: "dir", dir }));
    }));
    sftp.on("READDIR", (id, h) => this.run(id, async () => {
      const handle = this.handle(h);
      if (handle.kind !== "dir") throw new RequestError(STATUS_CODE.FAILURE, "Not a directory handle");
      if (handle.pending === undefined) {
        handle.pending = [];
        for (const name of (await readdir(handle.dir)).sort()) {
          const st = await lstat(path.join(handle.dir, name)).catch(() => undefined);
          if (st !== undefined) handle.pending.push({ filename: name, longname: longname(name, st), attrs: attrsOf(st) });
        }
      }
      const batch = handle.pending.splice(0, READDIR_BATCH);
      if (batch.length === 0) return sftp.status(id, STATUS_CODE.EOF);
      sftp.name(id, batch);
    }));
    sftp.on("OPEN", (id, p, flags, attrs) => this.run(id, async () => {
      const file = await open(this.real(p), nodeFlags(flags), typeof attrs?.mode === "number" ? attrs.mode & 0o7777 : 0o644);
      sftp.handle(id, this.register({ kind: "file", file }));
    }));
    sftp.on("READ", (id, h, offset, length) => {
      const faults = this.faults();
      if (faults.stallReads) return;
      this.run(id, async () => {
        const file = this.file(h);
        let len = length;
        const link = this.link;
        const limit = link === undefined ? undefined : faults.dropAfterBytes;
        if (link !== undefined && limit !== undefined) {
          if (link.sentBytes >= limit) return link.drop();
          len = Math.min(len, limit - link.sentBytes);
        }
        const buf = Buffer.alloc(len);
        const { bytesRead } = await file.read(buf, 0, len, offset);
        if (this.dropped) return;
        if (bytesRead === 0) return sftp.status(id, STATUS_CODE.EOF);
        sftp.data(id, buf.subarray(0, bytesRead));
        if (link !== undefined && limit !== undefined) {
          link.sentBytes += bytesRead;
          if (link.sentBytes >= limit) link.drop();
        }
      });
    });
    sftp.on("WRITE", (id, h, offset, data) => this.run(id, async () => {
      await this.file(h).write(data, 0, data.length, offset);
      this.ok(id);
    }));
    sftp.on("CLOSE", (id, h) => this.run(id, async () => {
      const handle = this.handle(h);
      this.handles.delete(h.readUInt32BE(0));
      if (handle.kind === "file") await handle.file.close();
      this.ok(id);
    }));
    sftp.on("REMOVE", (id, p) => this.run(id, async () => {
      await unlink(this.real(p));
      this.ok(id);
    }));
    sftp.on("RENAME", (id, from, to) => this.run(id, async () => {
      const target = this.real(to);
      // SFTP v3 RENAME does not replace, as OpenSSH's server does not (posix-rename@openssh.com would).
      if (await lstat(target).then(() => true, () => false)) throw new RequestError(STATUS_CODE.FAILURE, "Target exists");
      await rename(this.real(from), target);
      this.ok(id);
    }));
    sftp.on("MKDIR", (id, p, attrs) => this.run(id, async () => {
      await mkdir(this.real(p), { mode: typeof attrs?.mode === "number" ? attrs.mode & 0o7777 : 0o755 });
      this.ok(id);
    }));
    sftp.on("RMDIR", (id, p) => this.run(id, async () => {
      await rmdir(this.real(p));
      this.ok(id);
    }));
  }

  async closeAll(): Promise<void> {
    const files = [...this.handles.values()].flatMap((h) => (h.kind === "file" ? [h.file] : []));
    this.handles.clear();
    await Promise.all(files.map((f) => f.close().catch(() => {})));
  }

  /** Runs a request, answering with the status its error maps to; nothing is sent once the link is dropped. */
  private run(id: number, fn: () => Promise<void>): void {
    fn().catch((e: unknown) => {
      if (this.dropped) return;
      const { code, message } = statusOf(e);
      try {
        this.sftp.status(id, code, message);
      } catch {
        // The channel closed under us.
      }
    });
  }

  private ok(id: number): void {
    this.sftp.status(id, STATUS_CODE.OK);
  }

  private get dropped(): boolean {
    return this.link?.dropped ?? false;
  }

  /** The normalised absolute path as the client sees it; `..` above `/` is refused. */
  private virtual(p: string): string {
    const parts: string[] = [];
    for (const part of p.split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (parts.pop() === undefined) throw new RequestError(STATUS_CODE.PERMISSION_DENIED, "Path escapes the root");
      } else {
        parts.push(part);
      }
    }
    return `/${parts.join("/")}`;
  }

  private real(p: string): string {
    return path.join(this.root, this.virtual(p));
  }

  private register(handle: Handle): Buffer {
    const n = this.nextHandle++;
    this.handles.set(n, handle);
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(n);
    return buf;
  }

  private handle(h: Buffer): Handle {
    const handle = h.length === 4 ? this.handles.get(h.readUInt32BE(0)) : undefined;
    if (handle === undefined) throw new RequestError(STATUS_CODE.FAILURE, "Invalid handle");
    return handle;
  }

  private file(h: Buffer): FileHandle {
    const handle = this.handle(h);
    if (handle.kind !== "file") throw new RequestError(STATUS_CODE.FAILURE, "Not a file handle");
    return handle.file;
  }
}

/** SFTP open flags (SSH_FXF_*) as `open(2)` flags. */
function nodeFlags(flags: number): number {
  const { O_RDONLY, O_WRONLY, O_RDWR, O_APPEND, O_CREAT, O_TRUNC, O_EXCL } = fsConstants;
  const read = (flags & OPEN_MODE.READ) !== 0;
  const write = (flags & (OPEN_MODE.WRITE | OPEN_MODE.APPEND)) !== 0;
  let out = read && write ? O_RDWR : write ? O_WRONLY : O_RDONLY;
  if (flags & OPEN_MODE.APPEND) out |= O_APPEND;
  if (flags & OPEN_MODE.CREAT) out |= O_CREAT;
  if (flags & OPEN_MODE.TRUNC) out |= O_TRUNC;
  if (flags & OPEN_MODE.EXCL) out |= O_EXCL;
  return out;
}
