/**
 * A circuit breaker per destination: after `failures` failed requests in a row (the API unreachable,
 * timing out or answering 5xx) it opens and every request fails at once with DEST_CIRCUIT_OPEN, so that a
 * destination that is down is not hammered and the delivery pass pauses; after `openForMs` it lets one
 * trial request through (half-open): success closes it, failure opens it again. What counts is a
 * TransientError that blames the destination thrown by the request run through it; rate limiting (429),
 * which the HttpClient answers outside the breaker, and a record's own rejection never open it. The
 * mechanics are cockatiel's.
 */
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from "cockatiel";
import { blameOf, type FerryError, TransientError } from "../errors.ts";
import type { Logger } from "../log.ts";

export interface BreakerOptions {
  failures: number;
  openForMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = { failures: 5, openForMs: 30_000 };

export type BreakerState = "closed" | "open" | "half-open";

/** Whether an error is a breaker's refusal to send while it is open (DEST_CIRCUIT_OPEN). */
export function isCircuitOpen(error: unknown): boolean {
  return error instanceof TransientError && error.cause instanceof BrokenCircuitError;
}

export class Breaker {
  readonly #name: string;
  readonly #options: BreakerOptions;
  readonly #policy;
  #openedAt = 0;

  constructor(name: string, options: BreakerOptions, log: Logger) {
    this.#name = name;
    this.#options = options;
    this.#policy = circuitBreaker(
      handleWhen((e) => e instanceof TransientError && blameOf(e) === "destination"),
      { halfOpenAfter: options.openForMs, breaker: new ConsecutiveBreaker(options.failures) },
    );
    this.#policy.onBreak(() => {
      this.#openedAt = Date.now();
      log.warn(
        { destination: name, open_for_ms: options.openForMs },
        `circuit opened: ${options.failures} requests in a row failed; delivery to ${name} pauses`,
      );
    });
    this.#policy.onHalfOpen(() => log.info({ destination: name }, "circuit half-open: sending a trial request"));
    this.#policy.onReset(() => log.info({ destination: name }, "circuit closed: the destination answers again"));
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
      const retryAfterMs = Math.max(0, this.#openedAt + this.#options.openForMs - Date.now());
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
