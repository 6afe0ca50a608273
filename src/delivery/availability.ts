/**
 * Whether a destination takes records, as this process has seen it, and when to try one that does not.
 * Kept per Destination object: a command creates its destinations afresh and so tries at once, whatever an
 * earlier command met; `ferry serve` keeps its destinations, so its delivery loop leaves one that is down
 * alone between tries, longer each time (exponential backoff with jitter, capped at five minutes), and
 * never sooner than the API's Retry-After or the circuit breaker allow.
 */
import { ExponentialBackoff, halfJitterGenerator, type IBackoff } from "cockatiel";
import type { Destination } from "../destinations/destination.ts";
import { type FerryError, TransientError } from "../errors.ts";
import { isCircuitOpen } from "../http/breaker.ts";

/** The wait before the first try after a destination was found down, and the longest between two tries. */
export const DOWN_BACKOFF = { initialDelay: 1_000, maxDelay: 5 * 60_000 };

const backoff = new ExponentialBackoff({ generator: halfJitterGenerator, ...DOWN_BACKOFF });

export class Availability {
  /** When a pass first found it unavailable in this outage (ms since the epoch); null while it is up. */
  downSince: number | null = null;
  /** When it may be tried again. */
  retryAt = 0;
  /** What made it unavailable: the last failure met (not the breaker's refusal that followed it). */
  lastError: FerryError | null = null;
  #backoff: IBackoff<unknown> | null = null;

  /** A pass found it unavailable at `now`: the next try waits longer than the last. */
  down(error: FerryError, now: number): void {
    this.#backoff = this.#backoff ? this.#backoff.next(undefined) : backoff.next();
    this.downSince ??= now;
    if (!isCircuitOpen(error) || this.lastError === null) this.lastError = error;
    const hinted = error instanceof TransientError ? (error.retryAfterMs ?? 0) : 0;
    this.retryAt = now + Math.max(Math.round(this.#backoff.duration), hinted);
  }

  /** A pass went through: the next outage starts from the first wait again. */
  up(): void {
    this.#backoff = null;
    this.downSince = null;
    this.retryAt = 0;
    this.lastError = null;
  }

  /** Whether it may be tried at `now`. */
  due(now: number): boolean {
    return now >= this.retryAt;
  }
}

const seen = new WeakMap<Destination, Availability>();

/** The availability of a destination, as this process has seen it. */
export function availabilityOf(destination: Destination): Availability {
  let a = seen.get(destination);
  if (!a) {
    a = new Availability();
    seen.set(destination, a);
  }
  return a;
}
