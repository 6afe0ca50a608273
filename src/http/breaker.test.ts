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

  test("a failure's own error is not the breaker's refusal", () => {
    assert.equal(isCircuitOpen(new TransientError("DEST_UNAVAILABLE", "503")), false);
  });
});
