import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { DataError, FatalError } from "../errors.ts";
import { type FixedWidthSpec, fixedWidthFormatSchema } from "./fixed-width.config.ts";
import { type FixedWidthItem, fixedWidthColumns, parseFixedWidth, readFixedWidth } from "./fixed-width.ts";

const EXAMPLE = `
format: fixed-width
encoding: windows1252
record_types:
  - name: header
    prefix: "H"
    skip: true
  - name: detail
    prefix: "D"
    columns:
      - { name: id, start: 2, width: 8, type: integer }
      - { name: name, start: 10, end: 39, trim: both }
      - { name: balance, start: 40, width: 12, type: decimal, implied_decimals: 2 }
  - name: trailer
    prefix: "T"
    count: { start: 2, width: 9 }
`;
const spec = fixedWidthFormatSchema.parse(parseYaml(EXAMPLE));

const detail = (id: string, name: string, balance: string): string => `D${id}${name.padEnd(30)}${balance}`;

function single(column: Record<string, unknown>, extra: Record<string, unknown> = {}): FixedWidthSpec {
  return fixedWidthFormatSchema.parse({ format: "fixed-width", columns: [{ name: "v", start: 1, ...column }], ...extra });
}

async function items(s: FixedWidthSpec, lines: string[]): Promise<FixedWidthItem[]> {
  async function* source(): AsyncGenerator<{ text: string; line: number }> {
    for (const [i, text] of lines.entries()) yield { text, line: i + 1 };
  }
  const out: FixedWidthItem[] = [];
  for await (const item of parseFixedWidth(source(), s)) out.push(item);
  return out;
}

/** The records' values, or the reject's code and message, one per line. */
async function outcomes(s: FixedWidthSpec, lines: string[]): Promise<unknown[]> {
  return (await items(s, lines)).map((i) => (i.kind === "record" ? i.values : { code: i.error.code, message: i.error.message }));
}

async function value(column: Record<string, unknown>, text: string): Promise<unknown> {
  const [outcome] = (await outcomes(single(column), [text])) as Record<string, unknown>[];
  return outcome && "v" in outcome ? outcome.v : outcome;
}

async function fatal(s: FixedWidthSpec, lines: string[]): Promise<FatalError> {
  try {
    await items(s, lines);
  } catch (e) {
    assert.ok(e instanceof FatalError, `expected a FatalError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected the file to be refused");
}

function configIssues(input: unknown): string[] {
  const result = fixedWidthFormatSchema.safeParse(input);
  assert.equal(result.success, false);
  return result.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

describe("fixed-width config", () => {
  it("reads the YAML example with its defaults", () => {
    assert.deepEqual(spec.record_types![1]!.columns![0], { name: "id", start: 2, width: 8, type: "integer", trim: "both" });
    assert.equal(spec.allow_short_lines, false);
    assert.deepEqual(fixedWidthColumns(spec), ["id", "name", "balance"]);
  });

  it("refuses bad columns with messages naming them", () => {
    const issues = (columns: unknown[], extra = {}): string[] => configIssues({ format: "fixed-width", columns, ...extra });
    assert.deepEqual(issues([{ name: "a", start: 1, width: 2, end: 2 }]), ["columns.0.end: column \"a\": give either width or end, not both"]);
    assert.deepEqual(issues([{ name: "a", start: 1 }]), ["columns.0.width: column \"a\": give either width or end"]);
    assert.deepEqual(issues([{ name: "a", start: 5, end: 4 }]), ["columns.0.end: column \"a\": end (4) is before start (5)"]);
    assert.deepEqual(issues([{ name: "a", start: 0, width: 0 }]).length, 2);
    assert.deepEqual(issues([{ name: "a", start: 1, width: 2 }, { name: "a", start: 3, width: 2 }]), ["columns.1.name: column \"a\" is declared twice"]);
    assert.deepEqual(issues([{ name: "a", start: 9, width: 3 }], { record_length: 10 }), ["columns.0: column \"a\" ends at character 11, beyond record_length 10"]);
    assert.deepEqual(issues([{ name: "d", start: 1, width: 8, type: "date" }]), ["columns.0.format: column \"d\": a date column needs format (e.g. YYYYMMDD)"]);
    assert.deepEqual(issues([{ name: "d", start: 1, width: 8, type: "date", format: "YYYYMMMM" }]), [
      "columns.0.format: column \"d\": \"YYYYMMMM\" is not a date format: use YYYY, MM and DD once each, with - / . or space between them if the file has them (e.g. YYYYMMDD, DDMMYYYY, YYYY-MM-DD)",
    ]);
    assert.deepEqual(issues([{ name: "n", start: 1, width: 8, type: "integer", implied_decimals: 2 }]), [
      "columns.0.implied_decimals: column \"n\": implied_decimals needs type: decimal",
    ]);
    assert.deepEqual(issues([{ name: "s", start: 1, width: 8, format: "YYYYMMDD" }]), ["columns.0.format: column \"s\": format applies to date columns only"]);
    assert.match(issues([{ name: "a", start: 1, width: 1, typo: true }])[0]!, /typo/);
  });

  it("refuses inconsistent record types", () => {
    const cols = [{ name: "a", start: 2, width: 1 }];
    const issues = (record_types: unknown[], extra = {}): string[] => configIssues({ format: "fixed-width", record_types, ...extra });
    assert.deepEqual(issues([{ name: "h", prefix: "H" }, { name: "d", prefix: "D", columns: cols }]), [
      "record_types.0: record type \"h\" needs exactly one of columns (records), count (the trailer) or skip: true",
    ]);
    assert.deepEqual(issues([{ name: "d", prefix: "D", columns: cols }, { name: "d", prefix: "E", columns: cols }]), [
      "record_types.1.name: record type \"d\" is declared twice",
    ]);
    assert.deepEqual(issues([{ name: "d", prefix: "D", columns: cols }, { name: "e", prefix: "D", columns: cols }]), [
      "record_types.1.prefix: record type \"e\": another type has prefix \"D\"",
    ]);
    assert.deepEqual(
      issues([
        { name: "d", prefix: "D", columns: cols },
        { name: "t", prefix: "T", count: { start: 2, width: 3 } },
        { name: "u", prefix: "U", count: { start: 2, width: 3 } },
      ]),
      ["record_types: only one record type can be the trailer (have count)"],
    );
    assert.deepEqual(issues([{ name: "h", prefix: "H", skip: true }]), ["record_types: no record type has columns: the file would give no records"]);
    assert.deepEqual(issues([{ name: "t", prefix: "T", count: { start: 2, width: 3 } }, { name: "d", prefix: "D", columns: cols }], { record_length: 3 }), [
      "record_types.0.count: record type \"t\", count ends at character 4, beyond record_length 3",
    ]);
    assert.deepEqual(configIssues({ format: "fixed-width", columns: cols, record_types: [] }).at(-1), "columns: give either columns or record_types");
  });
});

describe("parseFixedWidth", () => {
  it("reads a windows-1252 file with header, details and trailer, counting lines across CRLF and blank lines", async () => {
    const text = ["H20240131 ACME", "", detail("00000042", "Renée “Lulu” Dupont", "000000012345"), detail("00000007", "Zoë", "00000000050-"), "T000000002", "", ""];
    const bytes = Buffer.from(text.join("\r\n").replace("“", "\x93").replace("”", "\x94"), "latin1");
    async function* chunks(): AsyncGenerator<Buffer> {
      for (let i = 0; i < bytes.length; i += 7) yield bytes.subarray(i, i + 7);
    }
    const out: FixedWidthItem[] = [];
    for await (const item of readFixedWidth(chunks(), spec)) out.push(item);
    assert.deepEqual(out, [
      { kind: "record", line: 3, recordType: "detail", values: { id: "42", name: "Renée “Lulu” Dupont", balance: "123.45" } },
      { kind: "record", line: 4, recordType: "detail", values: { id: "7", name: "Zoë", balance: "-0.50" } },
    ]);
  });

  it("reads plain columns: trims, nulls, extra characters past the last column ignored", async () => {
    const s = fixedWidthFormatSchema.parse({
      format: "fixed-width",
      columns: [
        { name: "code", start: 1, width: 4, trim: "none" },
        { name: "left", start: 5, width: 4, trim: "left" },
        { name: "right", start: 9, width: 4, trim: "right" },
        { name: "born", start: 13, width: 8, type: "date", format: "DDMMYYYY", null_values: ["00000000"] },
        { name: "qty", start: 21, width: 4, type: "integer", trim: "none" },
      ],
    });
    assert.deepEqual(await outcomes(s, ["A1    x  y  31122023  12", "    zzzz    00000000-007 and a comment"]), [
      { code: "A1  ", left: "x ", right: " y", born: "2023-12-31", qty: "12" },
      { code: null, left: "zzzz", right: null, born: null, qty: "-7" },
    ]);
  });

  it("counts positions in characters, not bytes or UTF-16 units", async () => {
    const s = fixedWidthFormatSchema.parse({ format: "fixed-width", columns: [{ name: "a", start: 1, width: 2 }, { name: "b", start: 3, width: 3 }] });
    assert.deepEqual(await outcomes(s, ["é😀abc"]), [{ a: "é😀", b: "abc" }]);
  });

  it("writes integers and decimals as exact canonical strings", async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ width: 9, type: "decimal", implied_decimals: 2 }, "000012345", "123.45"],
      [{ width: 8, type: "decimal", implied_decimals: 2 }, "-0000123", "-1.23"],
      [{ width: 4, type: "decimal", implied_decimals: 2 }, "123-", "-1.23"],
      [{ width: 4, type: "decimal", implied_decimals: 3 }, "  +5", "0.005"],
      [{ width: 5, type: "decimal", implied_decimals: 2 }, "-0000", "0.00"],
      [{ width: 20, type: "decimal", implied_decimals: 2 }, "12345678901234567890", "123456789012345678.90"],
      [{ width: 7, type: "decimal" }, "0012.50", "12.50"],
      [{ width: 3, type: "decimal" }, ".5-", "-0.5"],
      [{ width: 3, type: "decimal" }, "05.", "5"],
      [{ width: 6, type: "integer" }, "000042", "42"],
      [{ width: 6, type: "integer" }, "  -042", "-42"],
      [{ width: 6, type: "integer" }, "   42+", "42"],
      [{ width: 3, type: "integer" }, "-00", "0"],
      [{ width: 8, type: "date", format: "YYYYMMDD" }, "20240229", "2024-02-29"],
      [{ width: 10, type: "date", format: "YYYY-MM-DD" }, "1999-01-02", "1999-01-02"],
      [{ width: 10, type: "date", format: "DD/MM/YYYY" }, "02/01/1999", "1999-01-02"],
    ];
    for (const [column, text, expected] of cases) assert.equal(await value(column, text), expected, `${text} as ${JSON.stringify(column)}`);
  });

  it("rejects a bad number or date with the line, the column, the value and what was expected", async () => {
    const bad = async (column: Record<string, unknown>, text: string): Promise<unknown> => value({ width: text.length, ...column }, text);
    assert.deepEqual(await bad({ type: "integer" }, "12 34"), {
      code: "DATA_FIXED_WIDTH_BAD_NUMBER",
      message: "line 1, column v (characters 1-5): \"12 34\" is not a whole number; expected digits with an optional + or - before or after",
    });
    assert.deepEqual(await bad({ type: "decimal", implied_decimals: 2 }, "  123.45"), {
      code: "DATA_FIXED_WIDTH_BAD_NUMBER",
      message:
        "line 1, column v (characters 1-8): \"123.45\" is not a number; expected digits with 2 implied decimals (no decimal point) and an optional + or - before or after",
    });
    for (const text of ["-12-", "+", "1,5", "1.2.3", "0x10", "--1"]) {
      assert.equal(((await bad({ type: "decimal" }, text)) as DataError).code, "DATA_FIXED_WIDTH_BAD_NUMBER", text);
    }
    assert.deepEqual(await bad({ type: "date", format: "YYYYMMDD" }, "20230229"), {
      code: "DATA_FIXED_WIDTH_BAD_DATE",
      message: "line 1, column v (characters 1-8): \"20230229\" is not a date; expected a valid date written YYYYMMDD",
    });
    for (const text of ["20231301", "20230100", "00000101", "2023011", "2023-1-1"]) {
      assert.equal(((await bad({ type: "date", format: "YYYYMMDD" }, text.padEnd(8))) as DataError).code, "DATA_FIXED_WIDTH_BAD_DATE", text);
    }
  });

  it("rejects a short line, and reads it padded with allow_short_lines", async () => {
    assert.deepEqual(await outcomes(spec, ["D00000001Ann", "T000000001"]), [
      {
        code: "DATA_FIXED_WIDTH_SHORT_LINE",
        message:
          "line 1 has 12 characters; a detail record needs 51 (column balance ends at character 51). If the file's trailing spaces were trimmed, set allow_short_lines: true",
      },
    ]);
    const tolerant = fixedWidthFormatSchema.parse({ ...parseYaml(EXAMPLE), allow_short_lines: true });
    assert.deepEqual(await outcomes(tolerant, ["D00000001Ann", "T000000001"]), [{ id: "1", name: "Ann", balance: null }]);
  });

  it("makes the length exact with record_length", async () => {
    const s = single({ width: 3 }, { record_length: 5 });
    assert.deepEqual(await outcomes(s, ["abc  ", "abc", "abc   x"]), [
      { v: "abc" },
      {
        code: "DATA_FIXED_WIDTH_SHORT_LINE",
        message: "line 2 has 3 characters; records have 5 (record_length). If the file's trailing spaces were trimmed, set allow_short_lines: true",
      },
      { code: "DATA_FIXED_WIDTH_LONG_LINE", message: "line 3 has 7 characters; records have 5 (record_length)" },
    ]);
    assert.deepEqual(await outcomes(single({ width: 3 }, { record_length: 5, allow_short_lines: true }), ["ab"]), [{ v: "ab" }]);
  });

  it("rejects a line of no known record type and picks the longest matching prefix", async () => {
    const s = fixedWidthFormatSchema.parse({
      format: "fixed-width",
      record_types: [
        { name: "d", prefix: "D", columns: [{ name: "a", start: 2, width: 2 }] },
        { name: "dx", prefix: "DX", columns: [{ name: "b", start: 3, width: 2 }] },
      ],
    });
    const out = await items(s, ["D12", "DX34", "X1234567890123"]);
    assert.deepEqual(out.slice(0, 2), [
      { kind: "record", line: 1, recordType: "d", values: { a: "12" } },
      { kind: "record", line: 2, recordType: "dx", values: { b: "34" } },
    ]);
    const reject = out[2]!;
    assert.ok(reject.kind === "reject" && reject.error instanceof DataError);
    assert.equal(reject.error.code, "DATA_FIXED_WIDTH_UNKNOWN_RECORD_TYPE");
    assert.equal(reject.error.message, "line 3 starts with \"X123456789\", which is no known record type; expected a line starting with \"DX\" (dx), \"D\" (d)");
  });

  it("refuses the whole file when the trailer count disagrees, naming the stray lines", async () => {
    const lines = [detail("00000001", "A", "000000000100"), "Xjunk", "T000000002"];
    const e = await fatal(spec, lines);
    assert.equal(e.code, "SOURCE_FIXED_WIDTH_TRAILER_COUNT");
    assert.equal(
      e.message,
      "the trailer on line 3 says 2 detail records; the file has 1 (and 1 line of no known record type): it is incomplete or altered and is refused whole",
    );
  });

  it("counts rejected detail lines as details", async () => {
    const out = await items(spec, [detail("0000000x", "A", "000000000100"), "T000000001"]);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.kind, "reject");
  });

  it("refuses a file without its trailer, with two trailers, or lines after the trailer", async () => {
    const d = detail("00000001", "A", "000000000100");
    const missing = await fatal(spec, [d]);
    assert.equal(missing.code, "SOURCE_FIXED_WIDTH_NO_TRAILER");
    assert.equal(missing.message, "the file has no trailer (a line starting with \"T\"): it may be truncated and is refused whole");
    const second = await fatal(spec, [d, "T000000001", "T000000001"]);
    assert.equal(second.code, "SOURCE_FIXED_WIDTH_SECOND_TRAILER");
    assert.equal(second.message, "line 3 is a second trailer (the first is on line 2): the file is refused whole");
    const after = await fatal(spec, [d, "T000000001", d]);
    assert.equal(after.code, "SOURCE_FIXED_WIDTH_AFTER_TRAILER");
    assert.equal(after.message, "line 3 comes after the trailer on line 2: the file is refused whole");
    const garbled = await fatal(spec, [d, "T00000001A"]);
    assert.equal(garbled.code, "SOURCE_FIXED_WIDTH_BAD_TRAILER");
    assert.equal(
      garbled.message,
      "the trailer on line 2 holds \"00000001A\" at count (characters 2-10), where the record count should be: the file is refused whole",
    );
  });

  it("names the file in a fatal message when told it", async () => {
    const bytes = Readable.from([Buffer.from(`${detail("00000001", "A", "000000000100")}\n`)]);
    await assert.rejects(
      async () => {
        for await (const _ of readFixedWidth(bytes, spec, { name: "in/accounts.txt" }));
      },
      { code: "SOURCE_FIXED_WIDTH_NO_TRAILER", message: /^in\/accounts\.txt: the file has no trailer/ },
    );
  });
});
