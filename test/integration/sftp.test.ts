/**
 * The `sftp` source end to end, against an in-process SFTP server (with faults) and a real OpenSSH server
 * on a loopback port: pinned host keys, stable files only, the ledger, post-actions, dropped and stalled
 * transfers retried by the next run.
 */
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { ConfigError } from "../../src/errors.ts";
import { customerMapping, fieldTeamCsv } from "../support/customers.ts";
import { type OpenSsh, opensshSkip, startOpenSsh } from "../support/openssh.ts";
import { createTestProject, type TestProject } from "../support/project.ts";
import { type SftpServer, startSftpServer } from "../support/sftp.ts";

const rows = (n: number, from = 1) =>
  Array.from({ length: n }, (_, i) => ({ id: `C${String(from + i).padStart(4, "0")}`, first: `F${from + i}`, email: `c${from + i}@x.example` }));

function sftpJob(source: Record<string, unknown>, overrides: Record<string, unknown> = {}) {
  return {
    source: {
      type: "sftp",
      pattern: "*.csv",
      stable_for: "100ms",
      transfer_timeout: "1s",
      connect_timeout: "5s",
      format: { format: "csv" },
      ...source,
    },
    mapping: "customer",
    as: "field_team",
    mode: "snapshot",
    deletes: { policy: "ignore" },
    ...overrides,
  };
}

process.env.FERRY_TEST_SFTP_WRONG = "wrong";

async function project(job: object, env: Record<string, string> = {}): Promise<TestProject> {
  for (const [k, v] of Object.entries(env)) process.env[k] = v;
  return createTestProject({ backend: "sqlite", mappings: { customer: customerMapping({ fieldTeam: true }) }, jobs: { partner: job } });
}

describe("sftp source, in-process server", () => {
  let server: SftpServer;
  let p: TestProject;
  const remote = (name: string, text: string) => {
    mkdirSync(path.join(server.root, "out"), { recursive: true });
    writeFileSync(path.join(server.root, "out", name), text);
  };
  const base = () => ({ host: server.host, port: server.port, username: "ferry", password: "${env:FERRY_TEST_SFTP_PASSWORD}", folder: "/out" });

  beforeEach(async () => {
    server = await startSftpServer();
    p = await project(sftpJob({ ...base(), host_key: server.hostKeyFingerprint, after: { action: "move", to: "/out/done" } }), {
      FERRY_TEST_SFTP_PASSWORD: "secret",
    });
  });
  afterEach(async () => {
    await p.cleanup();
    await server.stop();
  });

  test("a stable file is downloaded, applied once, archived locally and moved on the server", async () => {
    remote("partner.csv", fieldTeamCsv(rows(3)));
    const first = await p.run("partner");
    assert.equal(first.status, "succeeded", first.error?.message ?? "");
    const [file] = first.files!;
    assert.equal(file!.outcome, "applied");
    assert.equal(file!.counts.changed, 3);
    assert.match(file!.movedTo, /on the server: moved to \/out\/done\/partner\.csv/);
    assert.deepEqual(readdirSync(path.join(server.root, "out", "done")), ["partner.csv"]);
    assert.equal(existsSync(path.join(server.root, "out", "partner.csv")), false);
    const archived = file!.movedTo.replace(/ \(on the server.*$/, "");
    assert.match(readFileSync(path.join(p.dir, `${archived}.report.csv`), "utf8"), /2,C0001,accepted/);

    // The same content again, under another name: recognised, not applied, moved all the same.
    remote("partner-copy.csv", fieldTeamCsv(rows(3)));
    const again = await p.run("partner");
    assert.equal(again.files?.[0]?.outcome, "duplicate");
    assert.equal(again.counts.read, 0);
    assert.deepEqual(readdirSync(path.join(server.root, "out", "done")).sort(), ["partner-copy.csv", "partner.csv"]);
  });

  test("full lists: a list uploaded again with the same name, size and time is taken once it left the server", async () => {
    p.writeFile("jobs/partner.yaml", sftpJob(
      { ...base(), host_key: server.hostKeyFingerprint, after: { action: "move", to: "/out/done" } },
      { deletes: { policy: "propagate", max_share: 0.5 } },
    ));
    p.reload();
    const monday = new Date("2026-03-02T06:00:00Z");
    const upload = (text: string, time: Date) => {
      remote("customers.csv", text);
      utimesSync(path.join(server.root, "out", "customers.csv"), time, time);
    };
    const live = async () => (await p.store.knex("golden").where({ status: "active" }).orderBy("key").pluck("key")) as string[];
    upload(fieldTeamCsv(rows(2)), monday);
    assert.equal((await p.run("partner")).files?.[0]?.outcome, "applied");
    upload(fieldTeamCsv(rows(1)), new Date("2026-03-03T06:00:00Z"));
    const tuesday = await p.run("partner");
    assert.equal(tuesday.counts.deleted, 1, tuesday.error?.message ?? "");
    assert.deepEqual(await live(), ["C0001"]);

    // Monday's file again, its time kept (sftp put -p, WinSCP): it left the server, so this is a new upload.
    upload(fieldTeamCsv(rows(2)), monday);
    const again = await p.run("partner");
    assert.equal(again.files?.[0]?.outcome, "applied", again.files?.[0]?.reason ?? again.error?.message ?? "");
    assert.match(again.files?.[0]?.reason ?? "", /the same content as customers\.csv \(run \d+\), superseded by customers\.csv/);
    assert.deepEqual(await live(), ["C0001", "C0002"]);

    // Once more: the same as the last list applied, so a duplicate, moved all the same.
    upload(fieldTeamCsv(rows(2)), monday);
    const once = await p.run("partner");
    assert.equal(once.files?.[0]?.outcome, "duplicate");
    assert.equal(existsSync(path.join(server.root, "out", "customers.csv")), false);
    assert.equal(readdirSync(path.join(server.root, "out", "done")).length, 4);
  });

  test("full lists whose post-action fails stay taken: retried, never applied again over a newer list", async () => {
    p.writeFile("jobs/partner.yaml", sftpJob(
      { ...base(), host_key: server.hostKeyFingerprint, after: { action: "move", to: "/out/done" } },
      { deletes: { policy: "propagate", max_share: 0.5 } },
    ));
    p.reload();
    remote("done", "a file where the folder should be");
    remote("a.csv", fieldTeamCsv(rows(2)));
    utimesSync(path.join(server.root, "out", "a.csv"), new Date("2026-03-02T06:00:00Z"), new Date("2026-03-02T06:00:00Z"));
    const first = await p.run("partner");
    assert.equal(first.status, "failed", "applied, but not moved");
    remote("b.csv", fieldTeamCsv(rows(1)));
    assert.equal((await p.run("partner")).counts.deleted, 1);
    const third = await p.run("partner");
    assert.deepEqual(third.files, [], "both still on the server, both taken: neither applied again");
    const applied = async () => (await p.store.knex("files").orderBy("id").pluck("name")) as string[];
    assert.deepEqual(await applied(), ["a.csv", "b.csv"]);

    rmSync(path.join(server.root, "out", "done"));
    assert.deepEqual((await p.run("partner")).files, []);
    assert.deepEqual(readdirSync(path.join(server.root, "out", "done")).sort(), ["a.csv", "b.csv"], "the post-actions were retried");
    assert.deepEqual(await applied(), ["a.csv", "b.csv"]);
    assert.equal(await p.store.knex("files").whereNull("removed_at").first("id"), undefined, "the ledger knows they left the server");
  });

  test("a file left on the server (after: leave) is taken once, until it changes", async () => {
    p.writeFile("jobs/partner.yaml", sftpJob({ ...base(), host_key: server.hostKeyFingerprint }, { deletes: { policy: "flag" } }));
    p.reload();
    remote("customers.csv", fieldTeamCsv(rows(2)));
    assert.equal((await p.run("partner")).files?.[0]?.outcome, "applied");
    assert.deepEqual((await p.run("partner")).files, [], "still there, same name, size and time: not taken again");
    remote("customers.csv", fieldTeamCsv(rows(3)));
    assert.equal((await p.run("partner")).files?.[0]?.outcome, "applied");
  });

  test("a host key that does not match the pinned one is refused before logging in", async () => {
    p.writeFile("jobs/partner.yaml", sftpJob({ ...base(), host_key: `SHA256:${"A".repeat(43)}` }));
    p.reload();
    remote("partner.csv", fieldTeamCsv(rows(1)));
    const result = await p.run("partner");
    assert.equal(result.status, "failed");
    assert.ok(result.error instanceof ConfigError, String(result.error));
    assert.equal((result.error as ConfigError).code, "SOURCE_SFTP_HOST_KEY_MISMATCH");
    assert.match(result.error!.message, new RegExp(`presented host key ${server.hostKeyFingerprint.replace(/[+/]/g, "\\$&")}`));
    assert.ok(existsSync(path.join(server.root, "out", "partner.csv")), "nothing touched on the server");
  });

  test("a job without a pinned host key is refused unless it opts out", () => {
    p.writeFile("jobs/partner.yaml", sftpJob(base()));
    assert.throws(() => p.reload(), /pin the server's host key \(host_key: SHA256:/);
    p.writeFile("jobs/partner.yaml", sftpJob({ ...base(), insecure_accept_any_host_key: true }));
    p.reload();
  });

  test("a connection dropped mid-transfer fails cleanly; the next run retries and applies the file", async () => {
    remote("big.csv", fieldTeamCsv(rows(400)));
    server.setFaults({ dropAfterBytes: 2_000 });
    const failed = await p.run("partner");
    assert.equal(failed.status, "failed");
    assert.equal((failed.error as { code?: string }).code, "SOURCE_UNAVAILABLE");
    assert.equal(failed.counts.read, 0);
    assert.ok(existsSync(path.join(server.root, "out", "big.csv")), "left on the server");
    server.setFaults({});
    const retried = await p.run("partner");
    assert.equal(retried.files?.[0]?.outcome, "applied");
    assert.equal(retried.counts.changed, 400);
  });

  test("a stalled transfer times out and is retried by the next run", async () => {
    remote("slow.csv", fieldTeamCsv(rows(2)));
    server.setFaults({ stallReads: true });
    const stalled = await p.run("partner");
    assert.equal(stalled.status, "failed");
    assert.match(stalled.error!.message, /no data for 1000 ms/);
    server.setFaults({});
    assert.equal((await p.run("partner")).files?.[0]?.outcome, "applied");
  });

  test("a file still growing between two listings is left for the next run", async () => {
    remote("growing.csv", fieldTeamCsv(rows(2)));
    const file = path.join(server.root, "out", "growing.csv");
    let n = 100;
    const grow = setInterval(() => writeFileSync(file, `${readFileSync(file, "utf8")}C0${n++},G,g${n}@x.example,\r\n`), 20);
    try {
      assert.deepEqual((await p.run("partner")).files, []);
    } finally {
      clearInterval(grow);
    }
    assert.equal((await p.run("partner")).files?.[0]?.outcome, "applied");
  });

  test("a file that changes on the server while it is read is left there, nothing of it applied, and taken whole once complete", async () => {
    remote("appended.csv", fieldTeamCsv(rows(2)));
    const file = path.join(server.root, "out", "appended.csv");
    let appended = false;
    const first = await p.run("partner", {
      // The downloaded copy is being read; the partner's writer appends to the file on the server.
      onProgress: () => {
        if (!appended) appendFileSync(file, "C0003,F3,c3@x.example,\r\n");
        appended = true;
      },
    });
    assert.ok(appended);
    const [taken] = first.files!;
    assert.equal(taken!.outcome, "returned", taken!.reason ?? first.error?.message ?? "");
    assert.match(taken!.reason ?? "", /\/out\/appended\.csv changed while it was read \(\d+ bytes when listed, \d+ now\): nothing of it was applied; it is left on the server/);
    assert.equal((first.error as { code?: string }).code, "SOURCE_FILE_CHANGED");
    assert.ok(existsSync(file), "left on the server, not moved");
    assert.equal(await p.store.knex("golden").count({ n: "*" }).first().then((r) => Number(r!.n)), 0, "nothing applied");

    const second = await p.run("partner");
    assert.equal(second.files?.[0]?.outcome, "applied", second.files?.[0]?.reason ?? second.error?.message ?? "");
    assert.equal(second.counts.changed, 3);
    assert.deepEqual(readdirSync(path.join(server.root, "out", "done")), ["appended.csv"]);
  });

  test("a wrong password is a configuration error", async () => {
    remote("partner.csv", fieldTeamCsv(rows(1)));
    p.writeFile("jobs/partner.yaml", sftpJob({ ...base(), password: "${env:FERRY_TEST_SFTP_WRONG}", host_key: server.hostKeyFingerprint }));
    p.reload();
    const result = await p.run("partner");
    assert.equal((result.error as { code?: string }).code, "SOURCE_SFTP_LOGIN_REFUSED");
  });
});

describe("sftp source, real OpenSSH server", { skip: await opensshSkip() }, () => {
  let sshd: OpenSsh;
  let p: TestProject;
  before(async () => {
    sshd = await startOpenSsh();
    writeFileSync(path.join(sshd.root, "key"), sshd.privateKey);
  });
  after(async () => {
    await p?.cleanup();
    await sshd?.stop();
  });

  test("a key login with the pinned host key: applied, then deleted on the server", async () => {
    const folder = path.join(sshd.root, "exports");
    mkdirSync(folder);
    writeFileSync(path.join(folder, "nightly.csv"), fieldTeamCsv(rows(5)));
    p = await project(
      sftpJob({
        host: sshd.host,
        port: sshd.port,
        username: sshd.username,
        private_key: `\${file:${path.join(sshd.root, "key")}}`,
        host_key: sshd.hostKeyFingerprint,
        folder,
        after: { action: "delete" },
      }),
    );
    const result = await p.run("partner");
    assert.equal(result.status, "succeeded", result.error?.message ?? "");
    assert.equal(result.files?.[0]?.counts.changed, 5);
    assert.deepEqual(readdirSync(folder), [], "deleted on the server once applied");
    await p.deliver();
    assert.equal(p.emulator.records("contacts").length, 5);
  });
});
