/**
 * `<name>.report.csv`: one line per line of the file that held a record (line, key, outcome, reason), so
 * whoever dropped the file can see what happened to each row. Lines are noted as the file is read (to a
 * temporary file, so memory does not grow with the file), then joined with the run's rejects, which the
 * state store keeps in line order.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { once } from "node:events";
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { stringify } from "csv-stringify/sync";
import type { Db } from "../state/store.ts";

export interface ReportSummary {
  read: number;
  accepted: number;
  rejected: number;
}

export class FileReport {
  readonly path: string;
  readonly #lines: WriteStream;
  readonly #linesPath: string;
  #read = 0;

  constructor(path: string) {
    this.path = path;
    this.#linesPath = `${path}.lines`;
    this.#lines = createWriteStream(this.#linesPath);
  }

  /** A line of the file that held a record (accepted or not). */
  note(line: number, key: unknown): void {
    this.#read++;
    const k = key === null || key === undefined ? "" : String(key);
    this.#lines.write(`${line}\t${k.replaceAll("\t", " ").replaceAll("\n", " ")}\n`);
  }

  get read(): number {
    return this.#read;
  }

  async #closeLines() {
    if (!this.#lines.closed) {
      this.#lines.end();
      await once(this.#lines, "close");
    }
  }

  /**
   * The report of an applied file: each line accepted, unless the run rejected it. `rejects` pages through
   * the run's rejects in line order.
   */
  async finish(rejectsAfter: (line: number) => Promise<{ line: number; key: string | null; reason: string }[]>): Promise<ReportSummary> {
    await this.#closeLines();
    const out = createWriteStream(`${this.path}.tmp`);
    out.write("line,key,outcome,reason\n");
    let pending: { line: number; key: string | null; reason: string }[] = [];
    let next = 0;
    let lastLine = -1;
    const summary: ReportSummary = { read: 0, accepted: 0, rejected: 0 };
    const rl = createInterface({ input: createReadStream(this.#linesPath), crlfDelay: Infinity });
    for await (const text of rl) {
      const tab = text.indexOf("\t");
      const line = Number(text.slice(0, tab));
      const key = text.slice(tab + 1);
      if (next >= pending.length && line > lastLine) {
        pending = await rejectsAfter(lastLine);
        next = 0;
        lastLine = pending.at(-1)?.line ?? Number.POSITIVE_INFINITY;
      }
      while (next < pending.length && pending[next]!.line < line) next++;
      summary.read++;
      let row: unknown[];
      if (next < pending.length && pending[next]!.line === line) {
        const r = pending[next++]!;
        summary.rejected++;
        row = [line, r.key ?? key, "rejected", r.reason];
      } else {
        summary.accepted++;
        row = [line, key, "accepted", ""];
      }
      if (!out.write(stringify([row]))) await once(out, "drain");
    }
    out.end();
    await once(out, "close");
    await rename(`${this.path}.tmp`, this.path);
    await rm(this.#linesPath, { force: true });
    return summary;
  }

  /** The report of a file that was not applied: every line read is rejected with the file's reason. */
  async fail(reason: string, at?: number): Promise<ReportSummary> {
    await this.#closeLines();
    const out = createWriteStream(`${this.path}.tmp`);
    out.write("line,key,outcome,reason\n");
    const summary: ReportSummary = { read: 0, accepted: 0, rejected: 0 };
    const rl = createInterface({ input: createReadStream(this.#linesPath), crlfDelay: Infinity });
    for await (const text of rl) {
      const tab = text.indexOf("\t");
      summary.read++;
      summary.rejected++;
      const row = [text.slice(0, tab), text.slice(tab + 1), "rejected", `not applied: ${reason}`];
      if (!out.write(stringify([row]))) await once(out, "drain");
    }
    if (at !== undefined || summary.read === 0) out.write(stringify([[at ?? "", "", "failed", reason]]));
    out.end();
    await once(out, "close");
    await rename(`${this.path}.tmp`, this.path);
    await rm(this.#linesPath, { force: true });
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
