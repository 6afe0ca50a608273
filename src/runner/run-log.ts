/**
 * A run's log lines, kept in the state store for the console's run page: a stream beside stderr that takes
 * the lines bound to a run (`run` set) at info level and above, whatever level stderr shows, and writes them
 * in batches, at most every half second, on a timer that keeps no process alive. At most 2,000 lines a run
 * are kept (the rest are counted in a last line). The lines are already scrubbed of secrets by the logger.
 */
import { Writable } from "node:stream";
import { appendRunLogs, type RunLogLine } from "../state/run-logs.repo.ts";
import type { StateStore } from "../state/store.ts";

const MAX_LINES_PER_RUN = 2_000;
const FLUSH_EVERY_MS = 500;

export class RunLogSink extends Writable {
  readonly #store: StateStore;
  #pending: RunLogLine[] = [];
  readonly #kept = new Map<number, number>();
  readonly #timer: NodeJS.Timeout;
  #flushing: Promise<void> = Promise.resolve();

  constructor(store: StateStore) {
    super();
    this.#store = store;
    this.#timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.#timer.unref();
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    for (const text of String(chunk).split("\n")) {
      if (text.trim()) this.#take(text);
    }
    done();
  }

  #take(text: string) {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    const run = line.run;
    if (typeof run !== "number" || run <= 0) return;
    const kept = (this.#kept.get(run) ?? 0) + 1;
    this.#kept.set(run, kept);
    if (kept > MAX_LINES_PER_RUN + 1) return;
    const { time, level, msg, run: _run, ...fields } = line;
    const at = new Date(typeof time === "number" ? time : Date.now()).toISOString();
    const message = kept > MAX_LINES_PER_RUN ? `more lines than the ${MAX_LINES_PER_RUN} kept; the process's log has them all` : String(msg ?? "");
    const rest = Object.keys(fields).length ? JSON.stringify(fields) : null;
    this.#pending.push({ run_id: run, at, level: Number(level ?? 30), msg: message, fields: rest });
  }

  /** Writes what is buffered; a failure is dropped with a word on stderr (the log is not the data). */
  flush(): Promise<void> {
    const lines = this.#pending;
    if (lines.length === 0) return this.#flushing;
    this.#pending = [];
    this.#flushing = this.#flushing
      .then(() => appendRunLogs(this.#store.knex, lines))
      .catch((e: unknown) => {
        process.stderr.write(`ferry: could not keep ${lines.length} run log line(s) in the state store: ${e instanceof Error ? e.message : String(e)}\n`);
      });
    return this.#flushing;
  }

  /** Stops the timer and writes what is left: before the state store closes. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
