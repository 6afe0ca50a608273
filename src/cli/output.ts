/** Human output on a terminal, JSON for scripts (`--json`), and a progress line on long runs. */
import type { DeliveryTally } from "../delivery/deliver.ts";
import { FerryError } from "../errors.ts";

/** One destination's delivery, in a line. */
export function deliveryLine(destination: string, t: DeliveryTally): string {
  const edits = t.remoteEdits > 0 ? `, ${t.remoteEdits} field(s) left as a person edited them there` : "";
  const stopped = t.error ? ` (stopped: ${t.error})` : "";
  return `delivery to ${destination}: created ${t.created}, updated ${t.updated}, deleted ${t.deleted}, failed ${t.dead}${edits}, still pending ${t.pending}${stopped}\n`;
}

/**
 * On stderr, why delivery to a destination left records pending: the destination, its last error, and when
 * it is tried again. Nothing in `--json` mode, where each tally carries `error` and `errorCode`.
 */
export function reportStops(tallies: ReadonlyMap<string, DeliveryTally>, json: boolean): void {
  if (json) return;
  for (const t of tallies.values()) {
    if (t.error) process.stderr.write(`ferry: ${t.error}${t.errorCode ? ` [${t.errorCode}]` : ""}\n`);
  }
}

/** How many rejects, or planned events of each kind, a run or a plan prints. */
export const SAMPLE = 20;

/** A run's error as printed: its message and, for scripts to match on, its stable code. */
export const errorLine = (error: Error) =>
  error instanceof FerryError ? `${error.message} [${error.code}]` : error.message;
export const errorCode = (error: Error | undefined) => (error instanceof FerryError ? error.code : undefined);

/** A field's value in a table: JSON, or "(empty)". */
export const showValue = (v: unknown) => (v === null || v === undefined ? "(empty)" : JSON.stringify(v));

export function printJson(value: unknown) {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(rows: Record<string, unknown>[], columns?: string[]) {
  if (rows.length === 0) {
    process.stdout.write("(none)\n");
    return;
  }
  const cols = columns ?? Object.keys(rows[0]!);
  const cell = (v: unknown) =>
    v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
  const widths = cols.map((c) => Math.min(60, Math.max(c.length, ...rows.map((r) => cell(r[c]).length))));
  const line = (values: string[]) =>
    values
      .map((v, i) => (v.length > widths[i]! ? `${v.slice(0, widths[i]! - 1)}…` : v.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  process.stdout.write(`${line(cols)}\n${line(widths.map((w) => "-".repeat(w)))}\n`);
  for (const r of rows) process.stdout.write(`${line(cols.map((c) => cell(r[c])))}\n`);
}

/** A single status line on stderr, rewritten in place, only when stderr is a terminal. */
export class Progress {
  #last = 0;
  readonly #enabled = process.stderr.isTTY === true;
  update(text: string) {
    if (!this.#enabled) return;
    const t = Date.now();
    if (t - this.#last < 200) return;
    this.#last = t;
    process.stderr.write(`\r\x1b[K${text}`);
  }

  done() {
    if (this.#enabled) process.stderr.write("\r\x1b[K");
  }
}

export function printError(error: unknown, json: boolean) {
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ error: error instanceof FerryError ? error.toJSON() : { message: String(error) } }, null, 2)}\n`,
    );
    return;
  }
  if (error instanceof FerryError) {
    process.stderr.write(`ferry: ${error.message} [${error.code}]\n`);
  } else {
    process.stderr.write(
      `ferry: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
}
