/**
 * The alerts of `ferry serve`: the rules of ferry.yaml's `alerts:` evaluated every `alerts.check_every` and
 * right after each run ends (`kick`), under the cluster-wide lease `alerts`, so that of several workers on one
 * PostgreSQL state store one evaluates and sends at a time (with SQLite state, the one process does). A
 * worker that finds the lease held leaves the evaluation to its holder; one whose run just ended tries again
 * a moment later, so the run is looked at without waiting for the next check.
 *
 * Nothing here runs inside a run: an evaluation reads the state store on its own schedule, and its channels'
 * failures are logged, never thrown. A stop starts no new evaluation and takes no new message; a message
 * already taken gets its first attempt, which ends within its channel's timeout, and no other.
 */
import path from "node:path";
import { leaseExpiryMs, withLease } from "../cluster/lease.ts";
import { durationMs } from "../config/duration.ts";
import type { Project } from "../config/load.ts";
import { describeError, FerryError, TransientError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { LeaseHolder } from "../state/leases.repo.ts";
import type { StateStore } from "../state/store.ts";
import { createChannels } from "./channels/channels.ts";
import type { RetrySettings } from "./channels/send.ts";
import { type Evaluation, evaluateAlerts, type EvaluationReport } from "./evaluate.ts";

/** The lease that makes one process of a cluster the one that evaluates and sends. */
export const ALERTS_LEASE = "alerts";

export interface AlertsOptions {
  project: Project;
  store: StateStore;
  log: Logger;
  /** The service's: aborted, no new evaluation starts. */
  signal?: AbortSignal;
  /** The clock the rules read (job_late's occurrences, destination_down's `for`); default the system's. */
  now?: () => Date;
  /** Who takes the lease (default this process, a new holding each time). */
  holder?: LeaseHolder;
  /** Default `alerts.check_every`. */
  checkEveryMs?: number;
  retry?: RetrySettings;
}

export interface Alerts {
  /** Something changed (a run ended): evaluate as soon as the evaluation in progress, if any, ends. */
  kick(): void;
  /** One evaluation now, under the lease: its report, or "held" while another process holds the lease. */
  evaluate(): Promise<EvaluationReport | "held">;
  /** Starts evaluating every `check_every`, and on each kick, until `stop` or the signal. */
  start(): void;
  stop(): Promise<void>;
}

/** The project's alerts, or null when it has no rules. Throws a ConfigError when a channel cannot be made. */
export function createAlerts(options: AlertsOptions): Alerts | null {
  const config = options.project.config.alerts;
  if (!config || config.rules.length === 0) return null;
  const now = options.now ?? (() => new Date());
  const log = options.log.child({ component: "alerts" });
  const evaluation: Evaluation = {
    project: options.project,
    alerts: config,
    store: options.store,
    log,
    channels: createChannels(options.project, { log, now }),
    message: { project: config.project ?? path.basename(options.project.dir), consoleUrl: config.console_url },
    now,
    watchingSince: now(),
    ...(options.retry ? { retry: options.retry } : {}),
  };
  return new AlertsLoop(options, evaluation, options.checkEveryMs ?? durationMs(config.check_every));
}

const leaseErrors = {
  held: () => new TransientError("ALERT_LEASE_HELD", "another process evaluates the alerts"),
  lost: (expiryMs: number) => new TransientError("ALERT_LEASE_LOST", `another process took over the alerts: this one had not renewed its lease for ${expiryMs} ms`),
  interrupted: () => new TransientError("ALERT_LEASE_HELD", "another process evaluates the alerts"),
};

/** How soon a worker whose run ended tries again for the lease another process held. */
const HELD_RETRY_MS = 1_000;

class AlertsLoop implements Alerts {
  readonly #options: AlertsOptions;
  readonly #evaluation: Evaluation;
  readonly #everyMs: number;
  readonly #stop = new AbortController();
  readonly #signal: AbortSignal;
  /** The evaluation in progress: the next one waits for it. */
  #current: Promise<unknown> = Promise.resolve();
  /** A run ended since the last evaluation this process made. */
  #owed = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: AlertsOptions, evaluation: Evaluation, everyMs: number) {
    this.#options = options;
    this.#evaluation = evaluation;
    this.#everyMs = everyMs;
    this.#signal = options.signal ? AbortSignal.any([options.signal, this.#stop.signal]) : this.#stop.signal;
  }

  kick(): void {
    this.#owed = true;
    this.#wake?.();
  }

  evaluate(): Promise<EvaluationReport | "held"> {
    const next = this.#current.then(() => this.#underLease());
    this.#current = next.catch(() => {});
    return next;
  }

  async #underLease(): Promise<EvaluationReport | "held"> {
    const { store, log, holder } = this.#options;
    const leaseOptions = { log, expiryMs: leaseExpiryMs(this.#options.project), ...(holder ? { holder } : {}) };
    try {
      return await withLease(store, ALERTS_LEASE, leaseOptions, leaseErrors, (lease) =>
        evaluateAlerts(this.#evaluation, AbortSignal.any([this.#signal, lease.signal])),
      );
    } catch (e) {
      if (e instanceof FerryError && e.code === "ALERT_LEASE_HELD") return "held";
      throw e;
    }
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#signal.aborted) {
      const owed = this.#owed;
      this.#owed = false;
      const outcome = await this.evaluate().catch((e: unknown) => {
        this.#evaluation.log.error({ err: describeError(e) }, "alerts could not be evaluated; trying again at the next check");
        return undefined;
      });
      if (outcome === "held" && owed) this.#owed = true;
      if (this.#signal.aborted) break;
      if (this.#owed && outcome !== "held") continue;
      await this.#sleep(this.#owed ? Math.min(HELD_RETRY_MS, this.#everyMs) : this.#everyMs);
    }
  }

  /** Waits `ms`, or less when kicked or stopped. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#signal.removeEventListener("abort", done);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
      this.#signal.addEventListener("abort", done, { once: true });
    });
  }

  async stop(): Promise<void> {
    this.#stop.abort(new Error("ferry is stopping"));
    await this.#loop;
    await this.#current;
  }
}
