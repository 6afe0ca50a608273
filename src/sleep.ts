/**
 * Ferry's one sleep: node's timer, abortable. It rejects with the signal's own reason (as `signal.throwIfAborted()`
 * does), not with the timer's AbortError, so that what stopped a wait is what the caller sees.
 */
import { setTimeout } from "node:timers/promises";

export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await setTimeout(ms, undefined, signal ? { signal } : undefined);
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw e;
  }
}
