import assert from "node:assert/strict";
import { test } from "node:test";
import type { AttemptOutcome } from "../../state/sessions.repo.ts";
import { delayAfter, LOGIN_MAX_DELAY_MS, throttleOf } from "./throttle.ts";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const at = (s: number) => new Date(T0 + s * 1_000);
const attempts = (...list: [number, AttemptOutcome][]) => list.map(([s, outcome]) => ({ at: at(s).toISOString(), outcome }));
const fails = (...seconds: number[]) => attempts(...seconds.map((s): [number, AttemptOutcome] => [s, "refused"]));

test("four failures are not throttled; the fifth throttles for 30 s after it", () => {
  assert.deepEqual(throttleOf(fails(0, 1, 2, 3), at(4)), { throttled: false });
  assert.deepEqual(throttleOf(fails(0, 1, 2, 3, 4), at(5)), { throttled: true, retryAfterMs: 29_000 });
  assert.deepEqual(throttleOf(fails(0, 1, 2, 3, 4), at(34)), { throttled: false });
});

test("each further failure doubles the wait, up to 15 minutes", () => {
  const waits = [5, 6, 7, 8, 9, 10, 20].map(delayAfter);
  assert.deepEqual(waits, [30_000, 60_000, 120_000, 240_000, 480_000, LOGIN_MAX_DELAY_MS, LOGIN_MAX_DELAY_MS]);
  assert.deepEqual(throttleOf(fails(0, 1, 2, 3, 4, 34), at(35)), { throttled: true, retryAfterMs: 59_000 });
});

test("failures older than 15 minutes do not count", () => {
  assert.deepEqual(throttleOf(fails(0, 1, 2, 3, 4), at(15 * 60 + 1)), { throttled: false });
  assert.deepEqual(throttleOf(fails(0, 1000, 1001, 1002, 1003), at(1004)), { throttled: false });
  assert.equal(throttleOf(fails(101, 200, 400, 800, 999), at(1000)).throttled, true, "five within 15 minutes");
});

test("a successful login ends the count; throttled attempts do not count; pending ones do", () => {
  assert.deepEqual(throttleOf(attempts([0, "refused"], [1, "refused"], [2, "refused"], [3, "ok"], [4, "refused"], [5, "refused"]), at(6)), {
    throttled: false,
  });
  const turnedAway = attempts([0, "refused"], [1, "refused"], [2, "refused"], [3, "refused"], [4, "throttled"], [5, "throttled"]);
  assert.deepEqual(throttleOf(turnedAway, at(6)), { throttled: false });
  assert.equal(throttleOf(attempts([0, "refused"], [1, "refused"], [2, "pending"], [3, "pending"], [4, "pending"]), at(4)).throttled, true);
});
