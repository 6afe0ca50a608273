/**
 * The lease table on SQLite and PostgreSQL: one holder at a time, a held lease refused by a read alone,
 * an expired one taken over, renewals and releases only by the holder, and one winner among many at once.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createTestDatabase, pgSkip, type TestDatabase } from "../../test/support/pg.ts";
import { acquireLease, getLease, type LeaseHolder, releaseLease, renewLease } from "./leases.repo.ts";
import { openStateStore, type StateStore } from "./store.ts";

const T0 = new Date("2030-01-01T00:00:00.000Z");
const at = (seconds: number) => new Date(T0.valueOf() + seconds * 1_000);
const EXPIRY = 30_000;
const a: LeaseHolder = { holder: "run-a", worker: "worker-a", pid: 101, host: "host-a" };
const b: LeaseHolder = { holder: "run-b", worker: "worker-b", pid: 202, host: "host-b" };

const skipPostgres = await pgSkip();

for (const backend of ["sqlite", "postgres"] as const) {
  describe(`leases on ${backend}`, { skip: backend === "postgres" ? skipPostgres : false }, () => {
    let store: StateStore;
    let dir: string;
    let database: TestDatabase | undefined;
    let n = 0;
    /** A job name of each test's own. */
    const job = () => `job-${++n}`;
    before(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), "ferry-leases-"));
      if (backend === "postgres") database = await createTestDatabase();
      store = await openStateStore(database ? { url: database.url } : { path: "state.db" }, dir);
    });
    after(async () => {
      await store.close();
      await database?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test("a free lease is taken; a held one is refused with its holder, and left as it was", async () => {
      const j = job();
      const first = await acquireLease(store.knex, j, a, at(0), EXPIRY);
      assert.equal(first.acquired, true);
      const expected = {
        name: j,
        ...a,
        acquired_at: at(0).toISOString(),
        heartbeat_at: at(0).toISOString(),
        expires_at: at(30).toISOString(),
      };
      assert.deepEqual(first.lease, expected);
      const second = await acquireLease(store.knex, j, b, at(29), EXPIRY);
      assert.deepEqual(second, { acquired: false, lease: expected });
      assert.deepEqual(await getLease(store.knex, j), expected);
    });

    test("an expired lease is taken over, and says whose it was; a renewal by the old holder then fails", async () => {
      const j = job();
      await acquireLease(store.knex, j, a, at(0), EXPIRY);
      const taken = await acquireLease(store.knex, j, b, at(31), EXPIRY);
      assert.equal(taken.acquired, true);
      assert.equal(taken.acquired && taken.tookOver?.holder, "run-a");
      assert.equal(taken.lease.holder, "run-b");
      assert.equal(taken.lease.expires_at, at(61).toISOString());
      assert.equal(await renewLease(store.knex, j, "run-a", at(32), EXPIRY), false);
      await releaseLease(store.knex, j, "run-a");
      assert.equal((await getLease(store.knex, j))?.holder, "run-b", "the old holder cannot release it");
    });

    test("an expired lease that the caller may not take over is refused", async () => {
      const j = job();
      await acquireLease(store.knex, j, a, at(0), EXPIRY);
      const refused = await acquireLease(store.knex, j, b, at(31), EXPIRY, () => false);
      assert.equal(refused.acquired, false);
      assert.equal(refused.lease.holder, "run-a");
    });

    test("renewals push the expiry on; a release frees the lease", async () => {
      const j = job();
      await acquireLease(store.knex, j, a, at(0), EXPIRY);
      assert.equal(await renewLease(store.knex, j, "run-a", at(20), EXPIRY), true);
      const renewed = await getLease(store.knex, j);
      assert.deepEqual([renewed?.heartbeat_at, renewed?.expires_at], [at(20).toISOString(), at(50).toISOString()]);
      assert.equal((await acquireLease(store.knex, j, b, at(40), EXPIRY)).acquired, false, "still held at 40 s");
      await releaseLease(store.knex, j, "run-a");
      assert.equal(await getLease(store.knex, j), undefined);
      assert.equal((await acquireLease(store.knex, j, b, at(41), EXPIRY)).acquired, true);
    });

    test("of many taking a free lease at once, one gets it", async () => {
      const j = job();
      const holders = Array.from({ length: 8 }, (_, i) => ({ holder: `run-${i}`, worker: `w-${i}`, pid: i, host: "h" }));
      const attempts = await Promise.all(holders.map((h) => acquireLease(store.knex, j, h, at(0), EXPIRY)));
      const winners = attempts.filter((x) => x.acquired);
      assert.equal(winners.length, 1);
      for (const x of attempts) assert.equal(x.lease.holder, winners[0]!.lease.holder);
    });
  });
}
