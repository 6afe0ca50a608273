import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type FerryError, PermanentError, TransientError } from "../errors.ts";
import { silentLogger } from "../log.ts";
import { Breaker, isCircuitOpen } from "./breaker.ts";

/** Runs `n` requests that fail with `error` through a breaker that opens after 2 failures in a row. */
async function failing(error: FerryError, n = 2): Promise<Breaker> {
  const breaker = new Breaker("crm", { failures: 2, openForMs: 60_000 }, silentLogger);
  for (let i = 0; i < n; i++) await assert.rejects(breaker.run(() => Promise.reject(error)), error);
  return breaker;
}

describe("Breaker", () => {
  for (const code of ["DEST_UNAVAILABLE", "DEST_UNREACHABLE", "DEST_TIMEOUT"] as const) {
    test(`${code}, a failure of the API, opens it; it then refuses at once with DEST_CIRCUIT_OPEN`, async () => {
      const breaker = await failing(new TransientError(code, "down"));
      assert.equal(breaker.state, "open");
      let called = false;
      const refused = await breaker.run(async () => (called = true)).catch((e: unknown) => e);
      assert.ok(refused instanceof TransientError && refused.code === "DEST_CIRCUIT_OPEN");
      assert.ok(isCircuitOpen(refused));
      assert.equal(called, false, "nothing sent while open");
    });
  }

  test("a record's own failure, transient or permanent, never opens it", async () => {
    assert.equal((await failing(new PermanentError("DEST_REJECTED", "400"), 3)).state, "closed");
    assert.equal((await failing(new TransientError("DEST_RECORD_BUSY", "locked"), 3)).state, "closed");
  });

  test("a 500, which may be one record's doing (DEST_SERVER_ERROR), never opens it", async () => {
    assert.equal((await failing(new TransientError("DEST_SERVER_ERROR", "500"), 5)).state, "closed");
  });

  test("each failed trial keeps it open longer than the last, up to a cap", async () => {
    const breaker = new Breaker("crm", { failures: 1, openForMs: 40, maxOpenForMs: 100 }, silentLogger);
    const down = new TransientError("DEST_UNAVAILABLE", "503");
    const openFor: number[] = [];
    await assert.rejects(breaker.run(() => Promise.reject(down)), down);
    for (let trial = 0; trial < 4; trial++) {
      openFor.push(breaker.openForMs);
      const refused = await breaker.run(() => Promise.reject(down)).catch((e: unknown) => e);
      assert.ok(isCircuitOpen(refused), "refused while open");
      await new Promise((resolve) => setTimeout(resolve, breaker.openForMs + 5));
      await assert.rejects(breaker.run(() => Promise.reject(down)), down, "the trial goes through, and fails");
    }
    assert.deepEqual(openFor, [40, 80, 100, 100]);
    await new Promise((resolve) => setTimeout(resolve, breaker.openForMs + 5));
    assert.equal(await breaker.run(async () => "up"), "up");
    assert.equal(breaker.state, "closed");
    assert.equal(breaker.openForMs, 40, "closed, it starts from open_for again");
  });

  test("a failure's own error is not the breaker's refusal", () => {
    assert.equal(isCircuitOpen(new TransientError("DEST_UNAVAILABLE", "503")), false);
  });
});
