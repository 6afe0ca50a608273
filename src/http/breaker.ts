/**
 * A circuit breaker per destination: after `failures` failed requests in a row (the API unreachable,
 * timing out or answering 502, 503, 504) it opens and every request fails at once with DEST_CIRCUIT_OPEN,
 * so that a destination that is down is not hammered and the delivery pass pauses; after `openForMs` it
 * lets one trial request through (half-open): success closes it, failure opens it again, for twice as long
 * each time, up to `maxOpenForMs`. What counts is a TransientError that blames the destination thrown by
 * the request run through it; rate limiting (429), which the HttpClient answers outside the breaker, a
 * record's own rejection and a 500 (which may be one record's doing: undecided, until delivery has split
 * its batch) never open it. The mechanics are cockatiel's.
 */
import { m } from "../metrics.ts";
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  noJitterGenerator,
} from "cockatiel";
import { blameOf, type FerryError, TransientError } from "../errors.ts";
import type { Logger } from "../log.ts";

export interface BreakerOptions {
  failures: number;
  /** How long it first stays open. */
  openForMs: number;
  /** The longest it stays open after failed trials; default the longer of `openForMs` and 5 minutes. */
  maxOpenForMs?: number;
}

export const DEFAULT_BREAKER: BreakerOptions = { failures: 5, openForMs: 30_000 };

/** How long a breaker stays open at most, by default: a destination down for long is still tried this often. */
export const MAX_OPEN_FOR_MS = 5 * 60_000;

export type BreakerState = "closed" | "open" | "half-open";

/** Whether an error is a breaker's refusal to send while it is open (DEST_CIRCUIT_OPEN). */
export function isCircuitOpen(error: unknown): boolean {
  return error instanceof TransientError && error.cause instanceof BrokenCircuitError;
}

export class Breaker {
  readonly #name: string;
  readonly #options: BreakerOptions;
  readonly #maxOpenForMs: number;
  readonly #policy;
  #openedAt = 0;
  /** Times it opened since it was last closed. */
  #opens = 0;

  constructor(name: string, options: BreakerOptions, log: Logger) {
    this.#name = name;
    this.#options = options;
    this.#maxOpenForMs = Math.max(options.openForMs, options.maxOpenForMs ?? MAX_OPEN_FOR_MS);
    const halfOpenAfter = new ExponentialBackoff({
      generator: noJitterGenerator,
      initialDelay: options.openForMs,
      maxDelay: this.#maxOpenForMs,
    });
    this.#policy = circuitBreaker(
      handleWhen((e) => e instanceof TransientError && blameOf(e) === "destination"),
      { halfOpenAfter, breaker: new ConsecutiveBreaker(options.failures) },
    );
    this.#policy.onBreak(() => {
      this.#openedAt = Date.now();
      this.#opens++;
      const why = this.#opens === 1 ? `${options.failures} requests in a row failed` : "the trial request failed";
      m.breakerOpen.set({ destination: name }, 1);
      log.warn({ destination: name, open_for_ms: this.openForMs }, `circuit opened: ${why}; delivery to ${name} pauses`);
    });
    this.#policy.onHalfOpen(() => log.info({ destination: name }, "circuit half-open: sending a trial request"));
    this.#policy.onReset(() => {
      this.#opens = 0;
      m.breakerOpen.set({ destination: name }, 0);
      log.info({ destination: name }, "circuit closed: the destination answers again");
    });
  }

  /** How long it stays open this time (while closed: the first time): `openForMs`, doubled by each failed trial. */
  get openForMs(): number {
    const doublings = Math.max(0, this.#opens - 1);
    return Math.min(this.#maxOpenForMs, this.#options.openForMs * 2 ** doublings);
  }

  get state(): BreakerState {
    const s = this.#policy.state;
    return s === CircuitState.Closed ? "closed" : s === CircuitState.HalfOpen ? "half-open" : "open";
  }

  /** Runs one request through the breaker; throws DEST_CIRCUIT_OPEN (transient) while it is open. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await this.#policy.execute(fn, signal);
    } catch (e) {
      if (!(e instanceof BrokenCircuitError)) throw e;
      const retryAfterMs = Math.max(0, this.#openedAt + this.openForMs - Date.now());
      const last = this.#policy.lastFailure;
      const why = last && "error" in last ? `; last failure: ${(last.error as FerryError).message}` : "";
      throw new TransientError(
        "DEST_CIRCUIT_OPEN",
        `${this.#name} failed ${this.#options.failures} times in a row, so delivery to it is paused; ` +
          `Ferry tries again in ${Math.ceil(retryAfterMs / 1000)} s${why}`,
        { retryAfterMs, cause: e },
      );
    }
  }
}
