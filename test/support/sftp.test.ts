/**
 * The two SFTP peers Ferry's `sftp` source is tested against, checked with ssh2-sftp-client (the client the
 * source uses): the in-process ssh2 server with its faults, and a real OpenSSH sshd.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { createConnection, type Socket } from "node:net";
import path from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import SftpClient from "ssh2-sftp-client";
import { opensshSkip, processAlive, startOpenSsh, type OpenSsh } from "./openssh.ts";
import { ed25519KeyPair, fingerprintFromSha256Hex, openSshFingerprint, startSftpServer, type SftpServer } from "./sftp.ts";

type ConnectOptions = SftpClient.ConnectOptions;

/** Clients and sockets opened by the current test, closed after it whatever happened. */
const clients: SftpClient[] = [];
const sockets: Socket[] = [];

function newClient(): SftpClient {
  // The default callbacks print every end and close event.
  const client = new SftpClient("test", { error: () => {}, end: () => {}, close: () => {} });
  clients.push(client);
  return client;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.end().catch(() => {})));
  for (const s of sockets.splice(0)) s.destroy();
});

/**
 * A TCP connection with Nagle's algorithm off, for ssh2's `sock` option. ssh2 leaves it on, and then every
 * SFTP request waits out the peer's delayed ACK: ~90 ms a round trip on loopback instead of ~0.5 ms, against
 * OpenSSH as much as against ssh2's server (a 300 kB get: ~300 ms instead of ~5 ms).
 */
async function noDelaySocket(host: string, port: number): Promise<Socket> {
  const socket = createConnection({ host, port, noDelay: true });
  sockets.push(socket);
  await once(socket, "connect");
  return socket;
}

/**
 * Connects (over a no-delay socket unless `plain`), recording the host key fingerprint the client was shown,
 * as Ferry's pinning will see it.
 */
async function connect(
  options: ConnectOptions & { host: string; port: number },
  plain = false,
): Promise<{ client: SftpClient; seenFingerprint: string }> {
  const client = newClient();
  let seenFingerprint = "";
  await client.connect({
    readyTimeout: 5_000,
    hostHash: "sha256",
    hostVerifier: (hex: string) => {
      seenFingerprint = fingerprintFromSha256Hex(hex);
      return true;
    },
    ...options,
    ...(plain ? {} : { sock: await noDelaySocket(options.host, options.port) }),
  } as ConnectOptions);
  return { client, seenFingerprint };
}

/** Rejects with "timed out" after `ms`, ending the connection so the operation itself fails too. */
async function withDeadline<T>(client: SftpClient, op: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${ms} ms`));
      void client.end().catch(() => {});
    }, ms);
  });
  try {
    return await Promise.race([op, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const MTIME = new Date("2024-03-15T10:20:30Z");
const MTIME_MS = MTIME.getTime();

/** A payload bigger than several READ replies, with content that shows misplaced chunks. */
function payload(size: number): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + (i >> 8)) & 0xff;
  return buf;
}

describe("in-process SFTP server", () => {
  let server: SftpServer;

  before(async () => {
    server = await startSftpServer();
  });

  after(async () => {
    await server.stop();
    await assert.rejects(stat(server.root), { code: "ENOENT" }, "the temp root is removed");
  });

  afterEach(() => server.setFaults({}));

  it("logs in with a password and shows the host key it reports", async () => {
    const { client, seenFingerprint } = await connect({ host: server.host, port: server.port, username: "ferry", password: "secret" }, true);
    assert.match(server.hostKeyFingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
    assert.equal(seenFingerprint, server.hostKeyFingerprint);
    assert.equal(await client.realPath("."), "/");
  });

  it("hands a hostVerifier without hostHash the key blob it reports", async () => {
    const client = newClient();
    let seen: Buffer | undefined;
    await client.connect({
      host: server.host, port: server.port, username: "ferry", password: "secret", readyTimeout: 5_000,
      sock: await noDelaySocket(server.host, server.port),
      hostVerifier: (key: Buffer) => {
        seen = key;
        return true;
      },
    } as ConnectOptions);
    assert.ok(seen !== undefined && seen.equals(server.hostPublicKey));
    assert.equal(openSshFingerprint(seen), server.hostKeyFingerprint);
  });

  it("refuses a host key the client does not trust", async () => {
    const client = newClient();
    await assert.rejects(client.connect({
      host: server.host, port: server.port, username: "ferry", password: "secret", readyTimeout: 5_000,
      sock: await noDelaySocket(server.host, server.port),
      hostHash: "sha256", hostVerifier: () => false,
    } as ConnectOptions));
  });

  it("logs in with a key, and refuses a wrong password", async () => {
    const { client } = await connect({ host: server.host, port: server.port, username: "ferry", privateKey: server.privateKeyFor("ferry") });
    assert.equal(await client.exists("/"), "d");
    await assert.rejects(connect({ host: server.host, port: server.port, username: "ferry", password: "wrong" }), /authentication/i);
  });

  it("accepts a user's own public key", async () => {
    const pair = ed25519KeyPair("bob@ferry-test");
    const keyed = await startSftpServer({ users: [{ username: "bob", publicKey: pair.public }] });
    try {
      const { client } = await connect({ host: keyed.host, port: keyed.port, username: "bob", privateKey: pair.private });
      assert.deepEqual(await client.list("/"), []);
      await assert.rejects(connect({ host: keyed.host, port: keyed.port, username: "bob", privateKey: server.privateKeyFor("ferry") }), /authentication/i);
      assert.throws(() => keyed.privateKeyFor("bob"), /no generated key/);
    } finally {
      await keyed.stop();
    }
  });

  it("lists a folder with types, sizes and modification times", async () => {
    await mkdir(path.join(server.root, "in", "archive"), { recursive: true });
    await writeFile(path.join(server.root, "in", "customers.csv"), "id,name\n1,Ada\n");
    await writeFile(path.join(server.root, "in", "empty.csv"), "");
    for (const name of ["customers.csv", "empty.csv", "archive"]) await utimes(path.join(server.root, "in", name), MTIME, MTIME);

    const { client } = await connect({ host: server.host, port: server.port, username: "ferry", password: "secret" });
    const list = await client.list("/in");
    const got = list.map((e) => ({ name: e.name, type: e.type, size: e.type === "d" ? undefined : e.size, modifyTime: e.modifyTime }));
    assert.deepEqual(got.sort((a, b) => a.name.localeCompare(b.name)), [
      { name: "archive", type: "d", size: undefined, modifyTime: MTIME_MS },
      { name: "customers.csv", type: "-", size: 14, modifyTime: MTIME_MS },
      { name: "empty.csv", type: "-", size: 0, modifyTime: MTIME_MS },
    ]);
    const st = await client.stat("/in/customers.csv");
    assert.deepEqual({ size: st.size, modifyTime: st.modifyTime, isFile: st.isFile }, { size: 14, modifyTime: MTIME_MS, isFile: true });
  });

  it("lists a folder of more entries than one READDIR reply holds", async () => {
    await mkdir(path.join(server.root, "many"));
    await Promise.all(Array.from({ length: 250 }, (_, i) => writeFile(path.join(server.root, "many", `f${i}.txt`), String(i))));
    const { client } = await connect({ host: server.host, port: server.port, username: "ferry", password: "secret" });
    assert.equal((await client.list("/many")).length, 250);
  });

  it("uploads, downloads, renames and deletes", async () => {
    const { client } = await connect({ host: server.host, port: server.port, username: "ferry", password: "secret" });
    const data = payload(300_000);
    await client.mkdir("/up");
    await client.put(data, "/up/big.bin");
    assert.ok((await readFile(path.join(server.root, "up", "big.bin"))).equals(data));

    const back = await client.get("/up/big.bin");
    assert.ok(Buffer.isBuffer(back) && back.equals(data));

    await client.rename("/up/big.bin", "/up/renamed.bin");
    assert.equal(await client.exists("/up/big.bin"), false);
    assert.equal(await client.exists("/up/renamed.bin"), "-");

    await client.delete("/up/renamed.bin");
    await client.rmdir("/up");
    await assert.rejects(stat(path.join(server.root, "up")), { code: "ENOENT" });
  });

  it("refuses paths that climb out of the root", async () => {
    const { client } = await connect({ host: server.host, port: server.port, username: "ferry", password: "secret" });
    await assert.rejects(client.get("/../etc/hostname"), /denied|escapes/i);
    await assert.rejects(client.list("../.."), /denied|escapes/i);
    await assert.rejects(client.put(Buffer.from("x"), "/a/../../x"), /denied|escapes/i);
  });

  it("dropAfterBytes: a download fails with an error instead of hanging", async () => {
    await writeFile(path.join(server.root, "drop.bin"), payload(200_000));
    server.setFaults({ dropAfterBytes: 50_000 });
    const before = server.connections;
    const { client } = await connect({ host: server.host, port: server.port, username: "ferry", password: "secret" });
    await assert.rejects(withDeadline(client, client.get("/drop.bin"), 5_000), (e: Error) => !/timed out/.test(e.message));

    server.setFaults({});
    const { client: again } = await connect({ host: server.host, port: server.port, username: "ferry", password: "secret" });
    assert.equal((await again.get("/drop.bin") as Buffer).length, 200_000);
    assert.equal(server.connections, before + 2);
  });

  it("dropAfterBytes counts per connection: resuming where the last one stopped gets the whole file", async () => {
    const data = payload(200_000);
    await writeFile(path.join(server.root, "resume.bin"), data);
    server.setFaults({ dropAfterBytes: 60_000 });
    const chunks: Buffer[] = [];
    let received = 0;
    let attempts = 0;
    while (received < data.length && attempts < 10) {
      attempts++;
      const { client } = await connect({ host: server.host, port: server.port, username: "ferry", password: "secret" });
      // ssh2-sftp-client's typings lack readStreamOptions.start for get(); ssh2's stream has it.
      const stream = client.createReadStream("/resume.bin", { start: received });
      // The stream closes its handle after the loop is done with it; if the connection ends first, that
      // CLOSE fails and the stream emits "error" with nobody listening: an uncaught exception.
      stream.on("error", () => {});
      try {
        for await (const chunk of stream) {
          chunks.push(chunk as Buffer);
          received += (chunk as Buffer).length;
        }
      } catch {
        // The drop: reconnect and go on from `received`.
      }
    }
    assert.equal(attempts, 4);
    assert.ok(Buffer.concat(chunks).equals(data));
  });

  it("stallReads: a download with a deadline times out", async () => {
    await writeFile(path.join(server.root, "stall.bin"), payload(10_000));
    server.setFaults({ stallReads: true });
    const { client } = await connect({ host: server.host, port: server.port, username: "ferry", password: "secret" });
    const started = Date.now();
    const get = client.get("/stall.bin");
    await assert.rejects(withDeadline(client, get, 300), /timed out after 300 ms/);
    assert.ok(Date.now() - started < 2_000);
    // Ending the connection at the deadline settles the stalled get too, so nothing is left pending.
    await assert.rejects(get);
  });

  it("refuseAuth: login fails", async () => {
    server.setFaults({ refuseAuth: true });
    await assert.rejects(connect({ host: server.host, port: server.port, username: "ferry", password: "secret" }), /authentication/i);
    await assert.rejects(connect({ host: server.host, port: server.port, username: "ferry", privateKey: server.privateKeyFor("ferry") }), /authentication/i);
  });
});

describe("OpenSSH server", { skip: await opensshSkip() }, () => {
  let sshd: OpenSsh | undefined;

  before(async () => {
    sshd = await startOpenSsh();
  });

  after(async () => {
    if (sshd === undefined) return;
    const killed = await sshd.stop();
    assert.ok(killed.includes(sshd.pid));
    for (const pid of killed) assert.equal(await processAlive(pid), false, `sshd process ${pid} is gone`);
    await assert.rejects(stat(sshd.root), { code: "ENOENT" }, "the temp dir is removed");
  });

  it("logs in with a key and shows the host key ssh-keygen prints", async () => {
    assert.ok(sshd);
    const { client, seenFingerprint } = await connect(
      { host: sshd.host, port: sshd.port, username: sshd.username, privateKey: sshd.privateKey },
      true,
    );
    assert.match(sshd.hostKeyFingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
    assert.equal(seenFingerprint, sshd.hostKeyFingerprint);
    assert.equal(openSshFingerprint(sshd.hostPublicKey), sshd.hostKeyFingerprint);
    assert.equal(await client.exists(sshd.root), "d");
  });

  it("refuses password login", async () => {
    assert.ok(sshd);
    await assert.rejects(connect({ host: sshd.host, port: sshd.port, username: sshd.username, password: "anything" }), /authentication/i);
  });

  it("lists, uploads, downloads, renames and deletes by absolute path", async () => {
    assert.ok(sshd);
    await writeFile(path.join(sshd.root, "customers.csv"), "id,name\n1,Ada\n");
    await utimes(path.join(sshd.root, "customers.csv"), MTIME, MTIME);
    const { client } = await connect({ host: sshd.host, port: sshd.port, username: sshd.username, privateKey: sshd.privateKey });

    const list = await client.list(sshd.root);
    assert.deepEqual(list.map((e) => ({ name: e.name, type: e.type, size: e.size, modifyTime: e.modifyTime })), [
      { name: "customers.csv", type: "-", size: 14, modifyTime: MTIME_MS },
    ]);

    const data = payload(300_000);
    const remote = path.posix.join(sshd.root, "big.bin");
    await client.put(data, remote);
    assert.ok((await readFile(remote)).equals(data));
    const back = await client.get(remote);
    assert.ok(Buffer.isBuffer(back) && back.equals(data));

    const renamed = path.posix.join(sshd.root, "renamed.bin");
    await client.rename(remote, renamed);
    assert.equal(await client.exists(remote), false);
    await client.delete(renamed);
    await assert.rejects(stat(renamed), { code: "ENOENT" });
  });
});
