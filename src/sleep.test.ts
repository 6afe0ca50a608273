import assert from "node:assert/strict";
import { test } from "node:test";
import { sleep } from "./sleep.ts";

test("sleep resolves after the time, and rejects with the signal's reason when aborted", async () => {
  await sleep(1);
  const interrupted = new Error("interrupted");
  await assert.rejects(sleep(10, AbortSignal.abort(interrupted)), interrupted);
  const controller = new AbortController();
  const waiting = sleep(60_000, controller.signal);
  controller.abort(interrupted);
  await assert.rejects(waiting, interrupted);
});
