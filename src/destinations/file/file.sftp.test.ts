/**
 * The `file` destination onto an SFTP server, end to end: against the in-process server of
 * test/support/sftp.ts (SFTP v3 RENAME, which never replaces a file) behind a TCP relay that can cut the
 * connection while a file is being uploaded, and against a real OpenSSH server where the machine has one
 * (posix-rename, which replaces atomically).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import path from "node:path";
import { Writable } from "node:stream";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { type OpenSsh, opensshSkip, startOpenSsh } from "../../../test/support/openssh.ts";
import { type SftpServer, startSftpServer } from "../../../test/support/sftp.ts";
import { type FerryError, PermanentError, TransientError } from "../../errors.ts";
import { createLogger, silentLogger } from "../../log.ts";
import type { DeliveryItem, Destination } from "../destination.ts";
import { fileDestinationSchema } from "./file.config.ts";
import { createFileDestination } from "./file.destination.ts";
import { runContext } from "../../run-context.ts";

const signal = new AbortController().signal;
const PASSWORD = "secret";
const env = { FERRY_TEST_FILE_SFTP_PW: PASSWORD, FERRY_TEST_FILE_SFTP_WRONG: "not-the-password-4711" };

function item(outboxId: number, key: string, properties: DeliveryItem["properties"]): DeliveryItem {
  return {
    outboxId,
    entity: "customer",
    key,
    op: "upsert",
    object: "customers",
    match: { property: "customer_no", value: key },
    properties: { customer_no: key, ...properties },
    changed: Object.keys(properties),
    remoteId: null,
    idempotencyKey: `idem-${outboxId}`,
  };
}

/** `n` customers from outbox id `from`, each with a long note: about 250 bytes a line. */
const many = (n: number, from = 1) => Array.from({ length: n }, (_, i) => item(from + i, `C${from + i}`, { note: "x".repeat(200) }));

/**
 * A TCP relay in front of the server. Once a connection has carried `after` bytes from the client (the
 * upload of a file, past the SSH handshake), a fault strikes it: `cut` closes it without a word, `stall`
 * keeps it open but forwards nothing more. `dropAll()` closes every open connection, as a server restart
 * or an idle timeout would.
 */
interface Relay {
  port: number;
  fault(fault: { after: number; then: "cut" | "stall" } | null): void;
  dropAll(): void;
  stop(): Promise<void>;
}

async function startRelay(upstreamPort: number): Promise<Relay> {
  let fault: { after: number; then: "cut" | "stall" } | null = null;
  const open = new Set<Socket>();
  const server: Server = createServer({ noDelay: true }, (client) => {
    const upstream = tcpConnect({ host: "127.0.0.1", port: upstreamPort, noDelay: true });
    open.add(client);
    open.add(upstream);
    let carried = 0;
    const close = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("data", (chunk: Buffer) => {
      carried += chunk.length;
      if (fault === null || carried <= fault.after) upstream.write(chunk);
      else if (fault.then === "cut") close();
    });
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    for (const s of [client, upstream]) {
      s.on("error", close);
      s.on("close", close);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("relay: no TCP address");
  return {
    port: address.port,
    fault: (f) => {
      fault = f;
    },
    dropAll: () => {
      for (const s of open) s.destroy();
    },
    stop: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The in-process server, started again when ssh2 generated a key it cannot read back (1 in 256 ed25519 keys:
 * https://github.com/mscdex/ssh2/issues/1513), so that this suite does not fail at random.
 */
async function startServer(): Promise<SftpServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startSftpServer();
    } catch (e) {
      if (attempt >= 5 || !/Malformed OpenSSH public key/.test((e as Error).message)) throw e;
    }
  }
}

/** Waits for a condition the server reaches on its own time (a socket closing), with a deadline. */
async function until(condition: () => boolean, what: string, deadlineMs = 5_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > end) assert.fail(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A logger that keeps its lines, to check what it warned about and that no secret reached it. */
function capturingLogger() {
  const lines: { level: number; msg: string }[] = [];
  let text = "";
  const log = createLogger({
    level: "info",
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString();
        lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
        done();
      },
    }),
  });
  return { log, lines, text: () => text };
}

describe("file destination, SFTP (in-process server)", () => {
  let server: SftpServer;
  let relay: Relay;
  let open: Destination[];

  const make = (sftp: Record<string, unknown> = {}, options: { log?: ReturnType<typeof createLogger>; format?: object } = {}) => {
    const config = fileDestinationSchema.parse({
      type: "file",
      ...(options.format ? { format: options.format } : {}),
      target: {
        sftp: {
          host: "127.0.0.1",
          port: relay.port,
          username: "ferry",
          password: "${env:FERRY_TEST_FILE_SFTP_PW}",
          host_key: server.hostKeyFingerprint,
          folder: "/imports/crm",
          connect_timeout: "5s",
          ...sftp,
        },
      },
    });
    const d = createFileDestination("legacy_erp", config, runContext({ log: options.log ?? silentLogger, env, baseDir: server.root, file: "ferry.yaml", block: "destinations.legacy_erp" }));
    open.push(d);
    return d;
  };
  const remoteFolder = () => path.join(server.root, "imports", "crm");
  const remoteFiles = () => (existsSync(remoteFolder()) ? readdirSync(remoteFolder()).sort() : []);

  beforeEach(async () => {
    server = await startServer();
    relay = await startRelay(server.port);
    open = [];
  });
  afterEach(async () => {
    await Promise.all(open.map((d) => d.close()));
    await relay.stop();
    await server.stop();
  });

  test("files are uploaded into a folder created on the server, over one connection reused across writes", async () => {
    const d = make({}, { format: { format: "jsonl" } });
    const first = await d.write([item(1, "C1", { name: "Acme, Inc.", credit: -1.5 })], signal);
    assert.deepEqual(first, [{ outboxId: 1, ok: true, remoteId: "customer-000000000001-000000000001.jsonl", action: "created" }]);
    await d.write([item(2, "C2", { name: "=cmd" })], signal);
    assert.deepEqual(remoteFiles(), ["customer-000000000001-000000000001.jsonl", "customer-000000000002-000000000002.jsonl"]);
    assert.equal(
      readFileSync(path.join(remoteFolder(), "customer-000000000001-000000000001.jsonl"), "utf8"),
      "{\"_op\":\"upsert\",\"_key\":\"C1\",\"_idempotency_key\":\"idem-1\",\"customer_no\":\"C1\",\"name\":\"Acme, Inc.\",\"credit\":-1.5}\n",
    );
    assert.equal(server.connections, 1);
    await d.close();
    await until(() => server.openConnections === 0, "close() ends the session");
  });

  test("a resend replaces its file, although the server's RENAME does not replace", async () => {
    const d = make();
    await d.write([item(5, "C1", { name: "Old" })], signal);
    await d.write([item(5, "C1", { name: "New" })], signal);
    assert.deepEqual(remoteFiles(), ["customer-000000000005-000000000005.csv"]);
    assert.equal(
      readFileSync(path.join(remoteFolder(), "customer-000000000005-000000000005.csv"), "utf8"),
      "_op,_key,_idempotency_key,customer_no,name\nupsert,C1,idem-5,C1,New\n",
    );
  });

  test("a connection dropped during the upload: TransientError, and neither the file nor its partial is left", async () => {
    const d = make();
    relay.fault({ after: 200_000, then: "cut" });
    await assert.rejects(d.write(many(4000), signal), (e: unknown) => {
      assert.ok(e instanceof TransientError, String(e));
      assert.equal(e.code, "DEST_UNAVAILABLE");
      assert.match(e.message, /^uploading \/imports\/crm\/\.customer-0+1-0+4000\.csv\.partial on \S+ failed: .*The items stay pending/);
      return true;
    });
    assert.deepEqual(remoteFiles(), [], "no final file, and the partial was removed over a new connection");

    // The link is back: the resend goes through, on a new connection.
    relay.fault(null);
    const results = await d.write(many(4000), signal);
    assert.equal(results.length, 4000);
    assert.deepEqual(remoteFiles(), ["customer-000000000001-000000004000.csv"]);
    assert.equal(readFileSync(path.join(remoteFolder(), remoteFiles()[0]!), "utf8").split("\n").length, 4002);
  });

  test("an upload that stalls fails after transfer_timeout, and leaves nothing behind", async () => {
    const d = make({ transfer_timeout: "300ms" });
    relay.fault({ after: 200_000, then: "stall" });
    await assert.rejects(d.write(many(4000), signal), (e: unknown) => {
      assert.ok(e instanceof TransientError, String(e));
      assert.match(e.message, /^uploading \S+\.partial on \S+ failed: no progress for 300 ms\. The items stay pending/);
      return true;
    });
    assert.deepEqual(remoteFiles(), []);
    relay.fault(null);
    await d.write(many(10), signal);
    assert.deepEqual(remoteFiles(), ["customer-000000000001-000000000010.csv"]);
  });

  test("a connection that dropped between two writes is opened again", async () => {
    const d = make();
    await d.write([item(1, "C1", {})], signal);
    relay.dropAll();
    await d.write([item(2, "C2", {})], signal);
    assert.equal(remoteFiles().length, 2);
    assert.equal(server.connections, 2);
  });

  test("a host key other than the pinned one: PermanentError, nothing written", async () => {
    const d = make({ host_key: `SHA256:${"A".repeat(43)}` });
    await assert.rejects(d.write([item(1, "C1", {})], signal), (e: unknown) => {
      assert.ok(e instanceof PermanentError, String(e));
      assert.equal(e.code, "DEST_SFTP_HOST_KEY_MISMATCH");
      assert.ok(e.message.includes(server.hostKeyFingerprint), e.message);
      return true;
    });
    assert.deepEqual(remoteFiles(), []);
  });

  test("a refused login is a PermanentError that shows no secret, in the error or the log", async () => {
    const { log, text } = capturingLogger();
    const d = make({ password: "${env:FERRY_TEST_FILE_SFTP_WRONG}" }, { log });
    const error = await d.write([item(1, "C1", {})], signal).then(
      () => assert.fail("expected the login to be refused"),
      (e: unknown) => e as FerryError,
    );
    assert.ok(error instanceof PermanentError, String(error));
    assert.equal(error.code, "DEST_UNAUTHORIZED");
    assert.match(error.message, /refused the login .*check username and credentials/);
    const shown = `${error.message} ${JSON.stringify(error)} ${String(error.cause)} ${text()}`;
    assert.ok(!shown.includes(env.FERRY_TEST_FILE_SFTP_WRONG), shown);
  });

  test("a key login, read from a file reference", async () => {
    writeFileSync(path.join(server.root, "..", `ferry-file-key-${server.port}`), server.privateKeyFor("ferry"));
    try {
      const d = make({ password: undefined, private_key: `\${file:../ferry-file-key-${server.port}}` });
      await d.write([item(1, "C1", {})], signal);
      assert.deepEqual(remoteFiles(), ["customer-000000000001-000000000001.csv"]);
    } finally {
      rmSync(path.join(server.root, "..", `ferry-file-key-${server.port}`), { force: true });
    }
  });

  test("without a pinned host key (opted out), every connection logs a warning", async () => {
    const { log, lines } = capturingLogger();
    const d = make({ host_key: undefined, insecure_accept_any_host_key: true }, { log });
    await d.write([item(1, "C1", {})], signal);
    await d.close();
    await d.write([item(2, "C2", {})], signal);
    const warnings = lines.filter((l) => l.level === 40 && /host key is NOT checked/.test(l.msg));
    assert.equal(warnings.length, 2);
    assert.equal(remoteFiles().length, 2);
  });

  test("a folder the login may not use is a PermanentError naming the folder", async () => {
    mkdirSync(path.join(server.root, "imports"));
    writeFileSync(path.join(server.root, "imports", "crm"), "a file where the folder should be");
    const d = make();
    await assert.rejects(d.write([item(1, "C1", {})], signal), (e: unknown) => {
      assert.ok(e instanceof PermanentError, String(e));
      assert.equal(e.code, "DEST_FILE_FOLDER");
      assert.match(e.message, /^cannot write files into \/imports\/crm on sftp:\/\/127\.0\.0\.1:\d+: creating folder \/imports\/crm: a/);
      assert.match(e.message, /give the login ferry the right to write in it, or change target\.sftp\.folder$/);
      return true;
    });
    // Once someone fixes the server, the same destination writes: the folder is checked again.
    rmSync(path.join(server.root, "imports", "crm"));
    await d.write([item(1, "C1", {})], signal);
    assert.deepEqual(remoteFiles(), ["customer-000000000001-000000000001.csv"]);
    // The server refuses a path that climbs out of its root: permission denied.
    await assert.rejects(make({ folder: "/../outside" }).write([item(1, "C1", {})], signal), (e: unknown) => {
      assert.ok(e instanceof PermanentError, String(e));
      assert.equal(e.code, "DEST_FILE_FOLDER");
      assert.match(e.message, /cannot write files into \/\.\.\/outside on .*permission denied/);
      return true;
    });
  });
});

describe("file destination, SFTP (real OpenSSH server)", { skip: await opensshSkip() }, () => {
  let sshd: OpenSsh;
  before(async () => {
    sshd = await startOpenSsh();
    writeFileSync(path.join(sshd.root, "key"), sshd.privateKey);
  });
  after(async () => {
    await sshd?.stop();
  });

  test("a key login with the pinned host key; a resend replaces its file in one rename", async () => {
    const folder = path.join(sshd.root, "imports");
    const config = fileDestinationSchema.parse({
      type: "file",
      target: {
        sftp: {
          host: sshd.host,
          port: sshd.port,
          username: sshd.username,
          private_key: "${file:key}",
          host_key: sshd.hostKeyFingerprint,
          folder,
        },
      },
    });
    const d = createFileDestination("erp", config, runContext({ log: silentLogger, env: {}, baseDir: sshd.root, file: "ferry.yaml", block: "destinations.erp" }));
    try {
      await d.write([item(1, "C1", { name: "Old" })], signal);
      await d.write([item(1, "C1", { name: "New" })], signal);
      assert.deepEqual(readdirSync(folder), ["customer-000000000001-000000000001.csv"]);
      assert.match(readFileSync(path.join(folder, "customer-000000000001-000000000001.csv"), "utf8"), /,New\n$/);
    } finally {
      await d.close();
    }
  });
});
