/**
 * Login throttling, as a pure decision over the attempts recorded for a name. Five failures within 15
 * minutes (since the name's last successful login) throttle it: no attempt is checked until 30 s after the
 * latest failure; each further failure in the window doubles that wait, up to 15 minutes. Attempts turned
 * away while throttled are recorded but do not count, so that they neither lengthen the wait nor end it.
 */
import type { AttemptRow } from "../../state/sessions.repo.ts";

export const LOGIN_MAX_FAILURES = 5;
export const LOGIN_WINDOW_MS = 15 * 60_000;
export const LOGIN_FIRST_DELAY_MS = 30_000;
export const LOGIN_MAX_DELAY_MS = 15 * 60_000;

export type Throttle = { throttled: false } | { throttled: true; retryAfterMs: number };

/** How long a name waits after its latest failure, when `failures` failed within the window. */
export function delayAfter(failures: number): number {
  if (failures < LOGIN_MAX_FAILURES) return 0;
  return Math.min(LOGIN_MAX_DELAY_MS, LOGIN_FIRST_DELAY_MS * 2 ** (failures - LOGIN_MAX_FAILURES));
}

/**
 * Whether an attempt at `now` is turned away, given the name's earlier attempts (oldest first). A pending
 * attempt (its password being checked in parallel) counts as a failure.
 */
export function throttleOf(attempts: readonly Pick<AttemptRow, "at" | "outcome">[], now: Date): Throttle {
  const since = new Date(now.valueOf() - LOGIN_WINDOW_MS).toISOString();
  let failures = 0;
  let latest = "";
  for (const a of attempts) {
    if (a.at <= since) continue;
    if (a.outcome === "ok") {
      failures = 0;
      latest = "";
    } else if (a.outcome === "refused" || a.outcome === "pending") {
      failures++;
      if (a.at > latest) latest = a.at;
    }
  }
  if (failures < LOGIN_MAX_FAILURES) return { throttled: false };
  const retryAt = Date.parse(latest) + delayAfter(failures);
  return retryAt > now.valueOf() ? { throttled: true, retryAfterMs: retryAt - now.valueOf() } : { throttled: false };
}
