/**
 * `withRunLease`: a run refused while another process holds its job's lease (RUN_LEASE_HELD, exit 6), a
 * lease left by a dead process taken over, the lease renewed while the run goes on and released however it
 * ends, a run told when its lease was taken over, and a run that waits for the lease.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createTestDatabase, pgSkip, type TestDatabase } from "../../test/support/pg.ts";
import { ExitCode, exitCodeFor, FerryError, TransientError } from "../errors.ts";
import type { HeldLease } from "../cluster/lease.ts";
import { silentLogger } from "../log.ts";
import { acquireLease, getLease, type Lease, type LeaseHolder } from "../state/leases.repo.ts";
import { openStateStore, type StateStore } from "../state/store.ts";
import { runLeaseName, withRunLease } from "./run-lease.ts";

/** Resolves with the first value `check` returns that is not undefined (polled); fails past the deadline. */
async function until<T>(what: string, check: () => Promise<T | undefined>, deadlineMs = 10_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) assert.fail(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The pid of a process that has ended. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => child.once("exit", resolve));
  return child.pid!;
}

const elsewhere: LeaseHolder = { holder: "elsewhere", worker: "worker-7", pid: 4242, host: "worker-7.example" };
const options = { log: silentLogger };

const skipPostgres = await pgSkip();

for (const backend of ["sqlite", "postgres"] as const) {
  describe(`withRunLease on ${backend}`, { skip: backend === "postgres" ? skipPostgres : false }, () => {
    let store: StateStore;
    let dir: string;
    let database: TestDatabase | undefined;
    let n = 0;
    const job = () => `job-${++n}`;
    before(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), "ferry-run-lease-"));
      if (backend === "postgres") database = await createTestDatabase();
      store = await openStateStore(database ? { url: database.url } : { path: "state.db" }, dir);
    });
    after(async () => {
      await store.close();
      await database?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test("a run while another process holds the lease is refused: who, where, since when; exit 6", async () => {
      const j = job();
      const held = await acquireLease(store.knex, runLeaseName(j), elsewhere, new Date(), 30_000);
      let ran = false;
      const error = await withRunLease(store, j, options, async () => {
        ran = true;
      }).then(
        () => assert.fail("the run started"),
        (e: unknown) => e,
      );
      assert.equal(ran, false);
      assert.ok(error instanceof TransientError);
      assert.equal(error.code, "RUN_LEASE_HELD");
      assert.equal(
        error.message.split(" (last heartbeat")[0],
        `job ${j} is running in worker worker-7 (process 4242 on host worker-7.example) since ${held.lease.acquired_at}`,
      );
      assert.equal(exitCodeFor(error), ExitCode.running);
      assert.equal(ExitCode.running, 6);
      assert.equal((await getLease(store.knex, runLeaseName(j)))?.holder, "elsewhere", "the holder keeps its lease");
    });

    test("the lease is held while the run goes on, and released when it ends", async () => {
      const j = job();
      const result = await withRunLease(store, j, options, async (lease) => {
        const row = await getLease(store.knex, runLeaseName(j));
        assert.deepEqual([row?.holder, row?.pid, row?.host], [lease.holder.holder, process.pid, os.hostname()]);
        return 42;
      });
      assert.equal(result, 42);
      assert.equal(await getLease(store.knex, runLeaseName(j)), undefined);
    });

    test("released when the run fails, the run's error thrown on", async () => {
      const j = job();
      await assert.rejects(
        withRunLease(store, j, options, async () => {
          throw new Error("the source went away");
        }),
        /the source went away/,
      );
      assert.equal(await getLease(store.knex, runLeaseName(j)), undefined);
      assert.equal(await withRunLease(store, j, options, async () => "again"), "again");
    });

    test("a lease whose holder stopped renewing it is taken over: on another host, or a dead process here", async () => {
      for (const holder of [elsewhere, { holder: "dead", worker: "dead", pid: await deadPid(), host: os.hostname() }]) {
        const j = job();
        await acquireLease(store.knex, runLeaseName(j), holder, new Date(Date.now() - 60_000), 30_000);
        const holding = async (lease: HeldLease) => (await getLease(store.knex, runLeaseName(j)))?.holder === lease.holder.holder;
        const ran = await withRunLease(store, j, options, holding);
        assert.equal(ran, true, `took over ${holder.holder}'s lease`);
        assert.equal(await getLease(store.knex, runLeaseName(j)), undefined);
      }
    });

    test("a run left running by a process that died is marked abandoned, naming it, when the lease is taken over", async () => {
      const j = job();
      const [row] = await store.knex("runs").insert({ job: j, mode: "snapshot", status: "running", started_at: "2024-01-01T00:00:00.000Z" }, ["id"]);
      const id = Number(typeof row === "object" ? (row as { id: number }).id : row);
      await acquireLease(store.knex, runLeaseName(j), elsewhere, new Date(Date.now() - 60_000), 30_000);
      await withRunLease(store, j, options, async () => undefined);
      const run = (await store.knex("runs").where({ id }).first()) as { status: string; error: string; finished_at: string | null };
      assert.equal(run.status, "abandoned");
      assert.match(run.error, /worker worker-7 \(process 4242 on host worker-7\.example\) stopped without finishing this run/);
      assert.ok(run.finished_at);
      // A run of another job is none of this one's business.
      const [other] = await store.knex("runs").insert({ job: job(), mode: "snapshot", status: "running", started_at: "2024-01-01T00:00:00.000Z" }, ["id"]);
      await withRunLease(store, j, options, async () => undefined);
      const otherId = Number(typeof other === "object" ? (other as { id: number }).id : other);
      assert.equal(((await store.knex("runs").where({ id: otherId }).first()) as { status: string }).status, "running");
    });

    test("an expired lease of a process still alive on this host is not taken over (it is late, not dead)", async () => {
      const j = job();
      const alive = { holder: "slow", worker: "slow", pid: process.pid, host: os.hostname() };
      await acquireLease(store.knex, runLeaseName(j), alive, new Date(Date.now() - 60_000), 30_000);
      await assert.rejects(withRunLease(store, j, options, async () => {}), { code: "RUN_LEASE_HELD" });
    });

    test("renewed while the run goes on: another cannot take it past its first expiry", async () => {
      const j = job();
      const expiryMs = 300;
      await withRunLease(store, j, { ...options, expiryMs }, async (lease) => {
        const first = (await getLease(store.knex, runLeaseName(j)))!;
        const renewed = await until("a renewal past the first expiry", async () => {
          const row = await getLease(store.knex, runLeaseName(j));
          return row && Date.parse(row.heartbeat_at) >= Date.parse(first.acquired_at) + expiryMs ? row : undefined;
        });
        assert.ok(renewed.expires_at > first.expires_at);
        const other = await acquireLease(store.knex, runLeaseName(j), elsewhere, new Date(), expiryMs);
        assert.equal(other.acquired, false, "still held past its first expiry");
        assert.equal(lease.signal.aborted, false);
      });
    });

    test("a lease taken over while the run goes on aborts the run's signal with RUN_LEASE_LOST", async () => {
      const j = job();
      const reason = await withRunLease(store, j, { ...options, expiryMs: 300 }, async (lease) => {
        // As if this process had frozen past its expiry and another had taken the lease over.
        await store.knex("leases").where({ name: runLeaseName(j) }).update({ holder: "elsewhere", pid: 4242, host: "worker-7.example" });
        return until("the lease's signal", async () => (lease.signal.aborted ? (lease.signal.reason as unknown) : undefined));
      });
      assert.ok(reason instanceof FerryError);
      assert.equal(reason.code, "RUN_LEASE_LOST");
      assert.equal((await getLease(store.knex, runLeaseName(j)))?.holder, "elsewhere", "the new holder's lease is left alone");
    });

    test("with wait, the run waits for the lease and starts once it is released", async () => {
      const j = job();
      await acquireLease(store.knex, runLeaseName(j), elsewhere, new Date(), 30_000);
      const waiting = Promise.withResolvers<Lease>();
      const run = withRunLease(store, j, { ...options, wait: true, pollMs: 20, onWait: waiting.resolve }, async () => "ran");
      assert.equal((await waiting.promise).holder, "elsewhere");
      await store.knex("leases").where({ name: runLeaseName(j), holder: "elsewhere" }).delete();
      assert.equal(await run, "ran");
      assert.equal(await getLease(store.knex, runLeaseName(j)), undefined);
    });

    test("a wait stopped by its signal is RUN_INTERRUPTED, and takes nothing", async () => {
      const j = job();
      await acquireLease(store.knex, runLeaseName(j), elsewhere, new Date(), 30_000);
      const controller = new AbortController();
      const run = withRunLease(store, j, { ...options, wait: true, pollMs: 20, signal: controller.signal, onWait: () => controller.abort(new Error("SIGTERM")) }, async () => "ran");
      await assert.rejects(run, (e: unknown) => e instanceof FerryError && e.code === "RUN_INTERRUPTED" && /process 4242 on host worker-7\.example/.test(e.message));
      assert.equal((await getLease(store.knex, runLeaseName(j)))?.holder, "elsewhere");
    });
  });
}
