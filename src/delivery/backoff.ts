/**
 * Exponential backoff with full jitter, and a token bucket. Randomness and time come in as arguments so
 * tests can pin them.
 */

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 60_000 };

/** Delay before attempt `attempt + 1` (attempt counts from 1), honouring a server's Retry-After. */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(cap / 2 + (random() * cap) / 2);
  return Math.max(jittered, retryAfterMs ?? 0);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Requests per window, spread evenly: `take()` resolves when a request may start. */
export class TokenBucket {
  #tokens: number;
  #last: number;
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #now: () => number;

  constructor(requests: number, windowMs: number, now: () => number = Date.now) {
    this.#capacity = requests;
    this.#tokens = requests;
    this.#perMs = requests / windowMs;
    this.#now = now;
    this.#last = now();
  }

  #refill() {
    const t = this.#now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (t - this.#last) * this.#perMs);
    this.#last = t;
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

  async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const wait = this.tryTake();
      if (wait === 0) return;
      await sleep(wait, signal);
    }
  }
}
