/**
 * `<name>.report.csv`: one line per line of the file that held a record (line, key, outcome, reason), so
 * whoever dropped the file can see what happened to each row. Lines are noted as the file is read (to a
 * temporary file, so memory does not grow with the file), then joined with the run's rejects, which the
 * state store keeps in line order.
 */
import { once } from "node:events";
import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { rename, rm, writeFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { stringify } from "csv-stringify/sync";
import type { Db } from "../state/store.ts";

export interface ReportSummary {
  read: number;
  accepted: number;
  rejected: number;
}

type ReportRow = [line: number | string, key: string, outcome: string, reason: string];

const HEADER = "line,key,outcome,reason\n";
/** Noted lines are written to the temporary file this many at a time. */
const FLUSH_EVERY = 1000;

/** A report of one line: a file refused unopened, or recognised as already applied. */
export async function writeOneLineReport(path: string, outcome: string, reason: string): Promise<void> {
  await writeFile(path, HEADER + stringify([["", "", outcome, reason]]));
}

export class FileReport {
  readonly path: string;
  readonly #lines: WriteStream;
  readonly #linesPath: string;
  #pending = "";
  #pendingCount = 0;
  #read = 0;

  constructor(path: string) {
    this.path = path;
    this.#linesPath = `${path}.lines`;
    this.#lines = createWriteStream(this.#linesPath);
  }

  /** A line of the file that held a record (accepted or not). */
  note(line: number, key: unknown): void {
    this.#read++;
    const k = key === null || key === undefined ? "" : String(key).replace(/[\t\r\n]/g, " ");
    this.#pending += `${line}\t${k}\n`;
    if (++this.#pendingCount >= FLUSH_EVERY) this.#flush();
  }

  get read(): number {
    return this.#read;
  }

  #flush(): void {
    if (this.#pending === "") return;
    this.#lines.write(this.#pending);
    this.#pending = "";
    this.#pendingCount = 0;
  }

  async #closeLines(): Promise<void> {
    if (this.#lines.closed) return;
    this.#flush();
    this.#lines.end();
    await once(this.#lines, "close");
  }

  /** Writes the report: one row per noted line, as `row` decides, then `tail` rows. */
  async #write(
    row: (line: number, key: string) => Promise<ReportRow>,
    tail: ReportRow[] = [],
  ): Promise<void> {
    await this.#closeLines();
    const out = createWriteStream(`${this.path}.tmp`);
    out.write(HEADER);
    // Rows go to csv-stringify a thousand at a time: each call sets up its options anew.
    let rows: ReportRow[] = [];
    for await (const text of createInterface({ input: createReadStream(this.#linesPath), crlfDelay: Infinity })) {
      const tab = text.indexOf("\t");
      rows.push(await row(Number(text.slice(0, tab)), text.slice(tab + 1)));
      if (rows.length >= FLUSH_EVERY) {
        const full = !out.write(stringify(rows));
        rows = [];
        if (full) await once(out, "drain");
      }
    }
    rows.push(...tail);
    if (rows.length > 0) out.write(stringify(rows));
    out.end();
    await once(out, "close");
    await rename(`${this.path}.tmp`, this.path);
    await rm(this.#linesPath, { force: true });
  }

  /**
   * The report of an applied file: each line accepted, unless the run rejected it. `rejectsAfter` pages
   * through the run's rejects in line order.
   */
  async finish(
    rejectsAfter: (line: number) => Promise<{ line: number; key: string | null; reason: string }[]>,
  ): Promise<ReportSummary> {
    const summary: ReportSummary = { read: 0, accepted: 0, rejected: 0 };
    let page: { line: number; key: string | null; reason: string }[] = [];
    let next = 0;
    let lastLine = -1;
    await this.#write(async (line, key) => {
      if (next >= page.length && line > lastLine) {
        page = await rejectsAfter(lastLine);
        next = 0;
        lastLine = page.at(-1)?.line ?? Number.POSITIVE_INFINITY;
      }
      while (next < page.length && page[next]!.line < line) next++;
      summary.read++;
      if (next < page.length && page[next]!.line === line) {
        const r = page[next++]!;
        summary.rejected++;
        return [line, r.key ?? key, "rejected", r.reason];
      }
      summary.accepted++;
      return [line, key, "accepted", ""];
    });
    return summary;
  }

  /** The report of a file that was not applied: every line read is rejected with the file's reason. */
  async fail(reason: string): Promise<ReportSummary> {
    const summary: ReportSummary = { read: 0, accepted: 0, rejected: 0 };
    await this.#write(
      async (line, key) => {
        summary.read++;
        summary.rejected++;
        return [line, key, "rejected", `not applied: ${reason}`];
      },
      [["", "", "failed", reason]],
    );
    return summary;
  }

  async discard(): Promise<void> {
    await this.#closeLines();
    await rm(this.#linesPath, { force: true });
  }
}

/** Pages through a run's rejects in line order, for `FileReport.finish`. */
export function runRejectsAfter(db: Db, runId: number, page = 1000) {
  return async (after: number) =>
    (await db("run_rejects")
      .where({ run_id: runId })
      .andWhere("line", ">", after)
      .orderBy("line")
      .limit(page)
      .select("line", "key", "reason")) as { line: number; key: string | null; reason: string }[];
}
