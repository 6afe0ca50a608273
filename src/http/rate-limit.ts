/**
 * Client-side rate limiting: a token bucket per destination credential. APIs count requests per credential
 * (HubSpot per private app, Salesforce per org), so two destinations that share one token share one bucket.
 */
import { hash } from "node:crypto";
import { sleep } from "../sleep.ts";

export interface RateLimit {
  requests: number;
  perMs: number;
  /** Requests that may start at once before pacing sets in. Default 1: evenly paced. */
  burst?: number;
}

/**
 * A token bucket that holds at most `burst` tokens and refills so that no window of `perMs` sees more than
 * `requests` requests start: (requests - burst) per window, plus the burst. A burst of 1 paces requests
 * evenly, which is what an API counting over a sliding window wants. Time comes in as an argument.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #now: () => number;

  constructor(limit: RateLimit, now: () => number = Date.now) {
    this.#capacity = Math.max(1, Math.min(limit.burst ?? 1, limit.requests));
    this.#tokens = this.#capacity;
    this.#perMs = Math.max(1, limit.requests - this.#capacity) / limit.perMs;
    this.#now = now;
    this.#last = now();
  }

  #refill() {
    const t = this.#now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (t - this.#last) * this.#perMs);
    this.#last = t;
  }

  /**
   * Empties the bucket: the next request waits for a token to refill. For a process that takes a rate-limited
   * destination over from another (src/delivery/delivery-lease.ts): the other's requests within the window
   * are not known here, so none is sent on top of them at once.
   */
  drain(): void {
    this.#tokens = 0;
    this.#last = this.#now();
  }

  /** Milliseconds until a token is available (0 if one is now), taking it when available. */
  tryTake(): number {
    this.#refill();
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.#tokens) / this.#perMs);
  }

  /** Resolves when a request may start; rejects when the signal aborts first. */
  async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const wait = this.tryTake();
      if (wait === 0) return;
      await sleep(wait, signal);
    }
  }
}

const buckets = new Map<string, TokenBucket>();

/**
 * The process's bucket for one credential of one service (null when the destination sets no limit). The
 * credential is kept only as a hash.
 */
export function bucketFor(service: string, credential: string, limit: RateLimit | null): TokenBucket | null {
  if (limit === null) return null;
  const id = `${hash("sha256", `${service}\u0000${credential}`, "hex")}:${limit.requests}/${limit.perMs}/${limit.burst ?? 1}`;
  let bucket = buckets.get(id);
  if (!bucket) {
    bucket = new TokenBucket(limit);
    buckets.set(id, bucket);
  }
  return bucket;
}
