/**
 * Delivery to a destination by one process at a time: the destination's delivery lease. Several deliveries
 * at once send every record once, within the rate limit; a pass leaves a destination another process is
 * delivering to, and a command waits for it; a process that takes a destination over starts its pacing
 * empty.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { TokenBucket } from "../../src/http/rate-limit.ts";
import { acquireLease, releaseLease } from "../../src/state/leases.repo.ts";
import { customerMapping, customers, customerTable, erpSnapshotJob } from "../support/customers.ts";
import { assertStatus, BACKENDS, backendSkip, createTestProject } from "../support/project.ts";

const ELSEWHERE = { holder: "delivery-elsewhere", worker: "worker-7", pid: 4242, host: "worker-7.example" };
const LIMIT = { requests: 8, perMs: 1_000 };
/** Records: several batches of HubSpot's 100, each with its lookup. */
const COUNT = 500;

async function project(t: TestContext, backend: (typeof BACKENDS)[number], rateLimited: boolean) {
  const p = await createTestProject({
    backend,
    legacy: { CUSTOMERS: customerTable(customers(COUNT)) },
    mappings: { customer: customerMapping() },
    jobs: { erp: erpSnapshotJob({ batch_size: 100 }) },
    // The limit as HubSpot counts it, and Ferry paces to it.
    hubspot: rateLimited ? { rate_limit: { requests: LIMIT.requests, per_seconds: LIMIT.perMs / 1000 } } : {},
    emulator: rateLimited ? { rateLimit: LIMIT } : {},
  });
  t.after(() => p.cleanup());
  assertStatus(await p.run("erp"), ["succeeded"]);
  return p;
}

const skips = Object.fromEntries(await Promise.all(BACKENDS.map(async (b) => [b, await backendSkip(b)] as const)));

describe("delivery lease", () => {
  for (const backend of BACKENDS) {
    describe(backend, { skip: skips[backend] }, () => {
      it("three deliveries at once: one sends at a time, every record created once, the rate limit held", async (t) => {
        const p = await project(t, backend, true);
        const tallies = await Promise.all([1, 2, 3].map(() => p.deliver({ waitForRetriesMs: 60_000 })));
        assert.equal(tallies.reduce((n, x) => n + x.created, 0), COUNT, JSON.stringify(tallies));
        assert.deepEqual(tallies.map((x) => x.pending), [0, 0, 0]);
        assert.equal(p.emulator.ledger.of("contacts", "create").length, COUNT);
        assert.deepEqual(p.emulator.ledger.duplicateCreates("contacts"), []);
        const refused = p.emulator.requests.filter((r) => r.status === 429);
        assert.equal(refused.length, 0, "no request over HubSpot's rate limit");
      });

      it("a pass leaves a destination another process delivers to; a command waits for it, then delivers", async (t) => {
        const p = await project(t, backend, false);
        await acquireLease(p.store.knex, "deliver:hubspot", ELSEWHERE, new Date(), 60_000);
        const left = await p.deliver({ waitForRetriesMs: 0 });
        assert.equal(left.pending, COUNT);
        assert.equal(left.created, 0);
        const who = "hubspot: delivered by worker worker-7 \\(process 4242 on host worker-7\\.example\\), which holds its delivery since";
        assert.match(left.error ?? "", new RegExp(`^${who} \\S+; ${COUNT} record\\(s\\) pending there$`));
        assert.equal(p.emulator.requests.length, 0, "nothing sent while another process delivers");

        const waiting = p.deliver({ waitForRetriesMs: 30_000 });
        setTimeout(() => void releaseLease(p.store.knex, "deliver:hubspot", ELSEWHERE.holder), 300);
        const tally = await waiting;
        assert.equal(tally.created, COUNT);
        assert.equal(tally.pending, 0);
        assert.equal(await p.store.knex("leases").where({ name: "deliver:hubspot" }).first(), undefined, "released");
      });

      it("a command whose wait ends before the other process's delivery does leaves the records pending, saying who has them", async (t) => {
        const p = await project(t, backend, false);
        await acquireLease(p.store.knex, "deliver:hubspot", ELSEWHERE, new Date(), 60_000);
        const tally = await p.deliver({ waitForRetriesMs: 500 });
        assert.equal(tally.pending, COUNT);
        assert.match(tally.error ?? "", /delivered by worker worker-7/);
        assert.equal(p.emulator.requests.length, 0);
      });
    });
  }

  it("a drained bucket makes the next request wait for a token to refill", () => {
    let now = 0;
    const bucket = new TokenBucket({ requests: 10, perMs: 1_000, burst: 5 }, () => now);
    bucket.drain();
    const wait = bucket.tryTake();
    assert.ok(wait > 0, "no token right after a drain");
    now += wait;
    assert.equal(bucket.tryTake(), 0, "one token once it refilled");
    assert.ok(bucket.tryTake() > 0, "and only one");
  });
});
