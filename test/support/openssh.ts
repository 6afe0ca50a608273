/**
 * A real OpenSSH server for tests: `/usr/sbin/sshd` on a free 127.0.0.1 port with its own host key, a
 * client key pair, `internal-sftp`, key login only, for the user running the tests, everything in a temp
 * dir that `stop()` removes. It checks Ferry's `sftp` source against the server most partners run, where
 * the in-process server of sftp.ts is only ssh2 talking to itself.
 *
 * There is no chroot: files are addressed by absolute local path, under `root`.
 * Tests skip with a message when sshd or ssh-keygen is missing, except under `FERRY_REQUIRE_SERVICES=1`.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { constants as fsConstants, watch } from "node:fs";
import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { assertAvailable, skipUnlessRequired } from "./services.ts";

const run = promisify(execFile);

export const SSHD = process.env.FERRY_TEST_SSHD ?? "/usr/sbin/sshd";
export const SSH_KEYGEN = process.env.FERRY_TEST_SSH_KEYGEN ?? "/usr/bin/ssh-keygen";

/** How long sshd may take to listen, and to exit once told to. */
const START_DEADLINE_MS = 10_000;
const STOP_DEADLINE_MS = 5_000;
const PID_FILE = "sshd.pid";

export interface OpenSsh {
  host: "127.0.0.1";
  port: number;
  /** The user sshd lets in: whoever runs the tests (root in CI). */
  username: string;
  /** The client's private key, OpenSSH format. */
  privateKey: string;
  /** As `ssh-keygen -lf <host key> -E sha256` prints it: `SHA256:<unpadded base64>`. */
  hostKeyFingerprint: string;
  /** The host public key in SSH wire format (what a client's host verifier receives). */
  hostPublicKey: Buffer;
  /** Absolute path of an empty folder for the test's files; SFTP paths are the same absolute paths. */
  root: string;
  /** Pid of the listening sshd. */
  pid: number;
  /**
   * Kills sshd and any per-connection sshd it forked, waits for the listener to exit and removes the temp
   * dir. Resolves to the pids that were killed, so a test can check none is left.
   */
  stop(): Promise<number[]>;
}

let probe: Promise<string | null> | undefined;

/** Null when sshd and ssh-keygen can be run, else what is missing (cached for the process). */
export function opensshUnavailableReason(): Promise<string | null> {
  probe ??= (async () => {
    const missing: string[] = [];
    for (const bin of [SSHD, SSH_KEYGEN]) {
      if (!(await access(bin, fsConstants.X_OK).then(() => true, () => false))) missing.push(bin);
    }
    return missing.length === 0
      ? null
      : `OpenSSH is not installed (${missing.join(" and ")} not found); install openssh-server or set FERRY_TEST_SSHD / FERRY_TEST_SSH_KEYGEN`;
  })();
  return probe;
}

/**
 * What to pass as a test's or suite's `skip` option: a message when OpenSSH is missing and allowed to be,
 * else false. Under FERRY_REQUIRE_SERVICES=1 it is always false, so the test runs and fails in
 * `startOpenSsh` with the reason.
 */
export async function opensshSkip(): Promise<string | false> {
  const reason = await opensshUnavailableReason();
  return skipUnlessRequired(reason);
}

/** A port that was free a moment ago: bind 127.0.0.1:0, note the port, close. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return address.port;
}

/** Resolves once something on the port sends an SSH identification line; false if nothing does in time. */
function answersSsh(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let seen = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on("data", (chunk: Buffer) => {
      seen += chunk.toString("latin1");
      if (seen.includes("\n")) done(seen.startsWith("SSH-"));
    });
    socket.on("error", () => done(false));
    socket.on("close", () => done(false));
  });
}

function sshdConfig(dir: string, port: number, username: string): string {
  return [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${path.join(dir, "host_ed25519")}`,
    `PidFile ${path.join(dir, PID_FILE)}`,
    `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    "UsePAM no",
    // The temp dir is not owned and moded the way sshd wants a home's .ssh to be.
    "StrictModes no",
    "PermitRootLogin prohibit-password",
    "Subsystem sftp internal-sftp",
    `AllowUsers ${username}`,
    "LogLevel ERROR",
    "",
  ].join("\n");
}

/** Pids of every live descendant of `pid` (Linux /proc; empty elsewhere). Zombies count as gone. */
async function descendants(pid: number): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir("/proc");
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  await Promise.all(names.filter((n) => /^\d+$/.test(n)).map(async (n) => {
    const stat = await readFile(`/proc/${n}/stat`, "utf8").catch(() => "");
    // pid (comm) state ppid ...; comm may hold spaces and parentheses, so parse from the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ppid = Number(fields[1]);
    if (fields[0] === "Z" || !Number.isInteger(ppid)) return;
    const list = children.get(ppid) ?? [];
    list.push(Number(n));
    children.set(ppid, list);
  }));
  const out: number[] = [];
  const queue = [pid];
  for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Whether a pid still names a live (non-zombie) process. */
export async function processAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  return stat === undefined ? true : stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Starts sshd; throws (with sshd's own words) when it cannot, or when OpenSSH is missing. */
export async function startOpenSsh(): Promise<OpenSsh> {
  const reason = await opensshUnavailableReason();
  assertAvailable(reason);

  const username = userInfo().username;
  const dir = await mkdtemp(path.join(tmpdir(), "ferry-sshd-"));
  try {
    const root = path.join(dir, "files");
    await mkdir(root);
    // sshd refuses to start without its privilege separation directory, which images without a running sshd lack.
    await mkdir("/run/sshd", { recursive: true, mode: 0o755 }).catch(() => {});

    const hostKey = path.join(dir, "host_ed25519");
    const clientKey = path.join(dir, "client_ed25519");
    await Promise.all([
      run(SSH_KEYGEN, ["-q", "-t", "ed25519", "-N", "", "-C", "ferry-test-host", "-f", hostKey]),
      run(SSH_KEYGEN, ["-q", "-t", "ed25519", "-N", "", "-C", "ferry-test-client", "-f", clientKey]),
    ]);
    const [privateKey, clientPub, hostPub, fingerprint] = await Promise.all([
      readFile(clientKey, "utf8"),
      readFile(`${clientKey}.pub`, "utf8"),
      readFile(`${hostKey}.pub`, "utf8"),
      run(SSH_KEYGEN, ["-l", "-E", "sha256", "-f", `${hostKey}.pub`]),
    ]);
    await writeFile(path.join(dir, "authorized_keys"), clientPub, { mode: 0o600 });
    // "256 SHA256:abc... ferry-test-host (ED25519)"
    const hostKeyFingerprint = fingerprint.stdout.split(" ")[1] ?? "";
    if (!hostKeyFingerprint.startsWith("SHA256:")) throw new Error(`unexpected ssh-keygen -l output: ${fingerprint.stdout}`);
    const hostPublicKey = Buffer.from(hostPub.split(" ")[1] ?? "", "base64");

    // The free port can be taken between the probe and sshd's bind; then sshd exits and we try another.
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const config = path.join(dir, "sshd_config");
      await writeFile(config, sshdConfig(dir, port, username));
      const started = await launch(dir, config, port);
      if (started instanceof Error) {
        lastError = started;
        if (/address already in use/i.test(started.message)) continue;
        break;
      }
      const { child, pid } = started;
      let stopped: Promise<number[]> | undefined;
      return {
        host: "127.0.0.1",
        port,
        username,
        privateKey,
        hostKeyFingerprint,
        hostPublicKey,
        root,
        pid,
        stop() {
          stopped ??= (async () => {
            // Per-connection sshd processes call setsid(), so killing the listener or its group misses them.
            const killed = [...(await descendants(pid)), pid];
            for (const p of killed) {
              try {
                process.kill(p, "SIGTERM");
              } catch {
                // Already gone.
              }
            }
            try {
              await withDeadline(exited(child), STOP_DEADLINE_MS, () => child.kill("SIGKILL"));
              await untilGone(killed);
            } finally {
              await rm(dir, { recursive: true, force: true });
            }
            return killed;
          })();
          return stopped;
        },
      };
    }
    throw lastError ?? new Error("sshd did not start");
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Waits for processes that are not our children (no exit event to wait for) to die, checking every 10 ms;
 * past the deadline, SIGKILLs the survivors and waits for them the same way.
 */
async function untilGone(pids: number[]): Promise<void> {
  for (const signal of ["SIGKILL", undefined]) {
    const deadline = Date.now() + STOP_DEADLINE_MS;
    let alive = pids;
    while (alive.length > 0 && Date.now() < deadline) {
      alive = (await Promise.all(alive.map(async (p) => ((await processAlive(p)) ? [p] : [])))).flat();
      if (alive.length > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (alive.length === 0) return;
    if (signal === undefined) throw new Error(`sshd processes ${alive.join(", ")} survived SIGKILL`);
    for (const p of alive) {
      try {
        process.kill(p, signal);
      } catch {
        // Gone meanwhile.
      }
    }
  }
}

/** Awaits `p`; past the deadline calls `onTimeout` and awaits `p` again (which `onTimeout` must settle). */
async function withDeadline(p: Promise<void>, ms: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), ms);
  });
  try {
    if ((await Promise.race([p, late])) === "late") {
      onTimeout();
      await p;
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Spawns `sshd -D -e` and waits for its pid file, which sshd writes once its socket listens (the one
 * event sshd gives at LogLevel ERROR), then checks the port answers SSH. An Error, with sshd's stderr,
 * when it exits first or takes longer than the deadline.
 */
async function launch(dir: string, config: string, port: number): Promise<{ child: ChildProcess; pid: number } | Error> {
  const pidFile = path.join(dir, PID_FILE);
  await rm(pidFile, { force: true });
  const watcher = watch(dir);
  const pidWritten = new Promise<"listening">((resolve) => {
    watcher.on("change", (_event, name) => {
      if (String(name) === PID_FILE) resolve("listening");
    });
  });
  watcher.on("error", () => {});
  const child = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (s: string) => {
    stderr = (stderr + s).slice(-4_000);
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const outcome = await Promise.race([
      pidWritten,
      new Promise<Error>((resolve) => child.once("error", resolve)),
      exited(child).then(() => "exited" as const),
      new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), START_DEADLINE_MS);
      }),
    ]);
    if (outcome instanceof Error) return new Error(`could not run ${SSHD}: ${outcome.message}`);
    if (outcome === "listening" && child.pid !== undefined && (await answersSsh(port, START_DEADLINE_MS))) {
      return { child, pid: child.pid };
    }
    if (outcome === "exited") {
      await exited(child);
      const how = child.signalCode !== null ? `signal ${child.signalCode}` : `code ${child.exitCode}`;
      return new Error(`sshd exited (${how}) before listening on 127.0.0.1:${port}: ${stderr.trim()}`);
    }
    child.kill("SIGKILL");
    await exited(child);
    return new Error(`sshd did not answer on 127.0.0.1:${port} within ${START_DEADLINE_MS} ms: ${stderr.trim()}`);
  } finally {
    clearTimeout(timer);
    watcher.close();
  }
}
