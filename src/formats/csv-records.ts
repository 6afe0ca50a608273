/**
 * Record types in a CSV file (`records:`): each line's type is read from one field, so that a file header
 * record or a batch line is read past and a trailer is known for what it is, whatever its width, rather
 * than taken for a record. The trailer's count is checked at the end of the file, as a fixed-width
 * trailer's is: records of the detail types, those rejected for their fields included; lines of no known
 * type are named beside the count when it disagrees.
 */
import { DataError, FatalError } from "../errors.ts";
import type { CsvRecords } from "./csv.config.ts";

export type LineKind = "skip" | "trailer" | "record";

export class CsvRecordTypes {
  readonly #spec: CsvRecords;
  readonly #where: string;
  readonly #skip: ReadonlySet<string>;
  readonly #detail: ReadonlySet<string> | null;
  #records = 0;
  #unknown = 0;
  #trailer: { line: number; count: number } | null = null;

  constructor(spec: CsvRecords, where: string) {
    this.#spec = spec;
    this.#where = where;
    this.#skip = new Set(spec.skip);
    this.#detail = spec.detail ? new Set(spec.detail) : null;
  }

  /**
   * What a line is: read past, the trailer, a record, or a reject (a type the job does not name). Until
   * the column names are known (`named` false), a line that is neither skipped nor the trailer is the
   * header line, and is not counted. Throws SOURCE_CSV_AFTER_TRAILER for any line after the trailer, and
   * SOURCE_CSV_BAD_TRAILER for a trailer without a count.
   */
  classify(fields: readonly string[], line: number, named: boolean): LineKind | DataError {
    if (this.#trailer) {
      throw new FatalError(
        "SOURCE_CSV_AFTER_TRAILER",
        `${this.#where}line ${line} comes after the trailer on line ${this.#trailer.line}, which ends the file; nothing was applied`,
        { details: { line, trailerLine: this.#trailer.line } },
      );
    }
    const field = this.#spec.type_field;
    const type = (fields[field - 1] ?? "").trim();
    if (this.#skip.has(type)) return "skip";
    if (this.#spec.trailer && type === this.#spec.trailer.type) {
      this.#trailer = { line, count: this.#count(fields, line) };
      return "trailer";
    }
    if (!named) return "record";
    if (this.#detail && !this.#detail.has(type)) {
      this.#unknown++;
      return new DataError(
        "DATA_CSV_UNKNOWN_RECORD_TYPE",
        `${this.#where}line ${line} is of record type ${JSON.stringify(type)} (field ${field}), which the job does not name; expected ${this.#expected()}`,
        { details: { line, type } },
      );
    }
    this.#records++;
    return "record";
  }

  /** A trailer was read: a file of no record, whose trailer says so, is not an empty file. */
  get trailerRead(): boolean {
    return this.#trailer !== null;
  }

  /** At the end of the file: throws when the declared trailer is missing or its count disagrees. */
  finish(): void {
    const trailer = this.#spec.trailer;
    if (!trailer) return;
    if (!this.#trailer) {
      throw new FatalError(
        "SOURCE_CSV_NO_TRAILER",
        `${this.#where}the file has no trailer (a line whose field ${this.#spec.type_field} is ${JSON.stringify(trailer.type)}): `
        + "it may be truncated (an export still running, a transfer cut short); nothing was applied",
        { details: { records: this.#records } },
      );
    }
    const { line, count } = this.#trailer;
    if (count === this.#records) return;
    const unknown = this.#unknown;
    const strays = unknown > 0 ? ` (and ${unknown} line${unknown === 1 ? "" : "s"} of no known record type)` : "";
    throw new FatalError(
      "SOURCE_CSV_TRAILER_COUNT",
      `${this.#where}the trailer on line ${line} says the file holds ${count} records; it holds ${this.#records}${strays}: `
      + "the file is incomplete or altered; nothing was applied",
      { details: { line, expected: count, actual: this.#records, unknown } },
    );
  }

  #count(fields: readonly string[], line: number): number {
    const field = this.#spec.trailer!.count_field;
    const raw = (fields[field - 1] ?? "").trim();
    if (!/^\d+$/.test(raw)) {
      throw new FatalError(
        "SOURCE_CSV_BAD_TRAILER",
        `${this.#where}the trailer on line ${line} holds ${JSON.stringify(raw)} in field ${field}, where the number of records should be; nothing was applied`,
        { details: { line, value: raw } },
      );
    }
    return Number(raw);
  }

  #expected(): string {
    const quoted = (types: Iterable<string>): string => [...types].map((t) => JSON.stringify(t)).join(", ");
    const skip = this.#skip.size > 0 ? `, or ${quoted(this.#skip)} (read past)` : "";
    const trailer = this.#spec.trailer ? `, or ${JSON.stringify(this.#spec.trailer.type)} (the trailer)` : "";
    return `${quoted(this.#detail ?? [])}${skip}${trailer}`;
  }
}
