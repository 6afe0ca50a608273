import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrokenCircuitError } from "cockatiel";
import { TransientError } from "../errors.ts";
import { Availability, DOWN_BACKOFF } from "./availability.ts";

const down = new TransientError("DEST_UNREACHABLE", "connect ECONNREFUSED");

describe("a destination's availability", () => {
  test("each failed try puts the next one further off, up to a cap; one that goes through starts again", () => {
    const a = new Availability();
    assert.equal(a.due(0), true, "a destination never seen is tried at once");
    const waits: number[] = [];
    let now = 1_000_000;
    for (let i = 0; i < 16; i++) {
      a.down(down, now);
      waits.push(a.retryAt - now);
      assert.equal(a.due(a.retryAt - 1), false);
      now = a.retryAt;
    }
    assert.equal(a.downSince, 1_000_000, "down since the first failed try");
    for (let i = 1; i < 8; i++) assert.ok(waits[i]! > waits[i - 1]!, `longer each time: ${waits.join(", ")}`);
    assert.ok(waits[0]! >= DOWN_BACKOFF.initialDelay / 2 && waits[0]! <= DOWN_BACKOFF.initialDelay);
    assert.ok(waits.every((w) => w <= DOWN_BACKOFF.maxDelay), "never longer than the cap");
    assert.ok(waits.at(-1)! >= DOWN_BACKOFF.maxDelay / 2, "the cap is reached");
    a.up();
    assert.deepEqual([a.downSince, a.due(now)], [null, true]);
    a.down(down, now);
    assert.ok(a.retryAt - now <= DOWN_BACKOFF.initialDelay, "a new outage starts from the first wait");
  });

  test("never sooner than the API's Retry-After; the last real failure is kept over the breaker's refusal", () => {
    const a = new Availability();
    a.down(new TransientError("DEST_RATE_LIMITED", "429", { retryAfterMs: 60_000 }), 0);
    assert.equal(a.retryAt, 60_000);
    const b = new Availability();
    b.down(down, 0);
    const open = new TransientError("DEST_CIRCUIT_OPEN", "paused", { retryAfterMs: 30_000, cause: new BrokenCircuitError() });
    b.down(open, 1_000);
    assert.equal(b.retryAt, 31_000);
    assert.equal(b.lastError, down);
  });
});
