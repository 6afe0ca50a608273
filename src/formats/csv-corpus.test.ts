/**
 * readCsv on the files under csv-corpus/ (byte-exact: see its .gitattributes), read through a file stream
 * in small chunks so that characters, line breaks and quotes fall across chunk boundaries, and on large
 * inputs generated here rather than committed.
 */
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { describe, it } from "node:test";
import { FatalError } from "../errors.ts";
import { csvFormatSchema } from "./csv.config.ts";
import { type CsvItem, type CsvOptions, readCsv } from "./csv.ts";

const CORPUS = new URL("./csv-corpus/", import.meta.url);

type Outcome = string[] | [number, Record<string, string>] | [number, string];

/** The header's columns, then [line, values] per record and [line, code] per reject. */
function outcomes(items: CsvItem[]): Outcome[] {
  return items.map((i) => (i.kind === "header" ? i.columns : i.kind === "record" ? [i.line, i.values] : [i.line, i.error.code]));
}

type Input = AsyncIterable<Uint8Array> | NodeJS.ReadableStream;

async function collect(input: Input, format: Record<string, unknown>, options: CsvOptions): Promise<CsvItem[]> {
  const out: CsvItem[] = [];
  for await (const item of readCsv(input, csvFormatSchema.parse({ format: "csv", ...format }), options)) out.push(item);
  return out;
}

async function readFile(name: string, format: Record<string, unknown> = {}, columns?: string[]): Promise<Outcome[]> {
  const stream = createReadStream(new URL(name, CORPUS), { highWaterMark: 7 });
  return outcomes(await collect(stream, format, { name, ...(columns ? { columns } : {}) }));
}

async function refused(input: () => Input, format: Record<string, unknown>, name: string): Promise<FatalError> {
  let yielded = 0;
  try {
    for await (const _ of readCsv(input(), csvFormatSchema.parse({ format: "csv", ...format }), { name })) yielded++;
  } catch (e) {
    assert.ok(e instanceof FatalError, `expected a FatalError, got ${String(e)}`);
    return e;
  }
  assert.fail(`expected ${name} to be refused; it gave ${yielded} items`);
}

const file = (name: string) => () => createReadStream(new URL(name, CORPUS), { highWaterMark: 7 });

describe("csv corpus", () => {
  it("quotes and line breaks inside fields: later records keep their line numbers", async () => {
    assert.deepEqual(await readFile("quoted-newlines.csv"), [
      ["id", "name", "comment"],
      [2, { id: "1", name: "Dupont, Renée", comment: "first line\nsecond line" }],
      [4, { id: "2", name: "O\"Brien", comment: "said \"hi\"\n\nafter a blank line inside the quotes" }],
      [7, { id: "3", name: "Zoë", comment: "\"quoted\" start" }],
      [8, { id: "4", name: "", comment: "plain" }],
    ]);
  });

  it("CRLF and LF mixed, inside quotes too, and a last line without a newline", async () => {
    assert.deepEqual(await readFile("crlf-mixed.csv"), [
      ["id", "city", "note"],
      [2, { id: "1", city: "Paris", note: "two\r\nlines" }],
      [4, { id: "2", city: "Lyon", note: "lf ending" }],
      [5, { id: "3", city: "Nice", note: "lf\ninside" }],
      [7, { id: "4", city: "Metz", note: "crlf ending" }],
      [8, { id: "5", city: "Caen", note: "no newline at the end" }],
    ]);
  });

  it("UTF-8 with a byte order mark", async () => {
    assert.deepEqual(await readFile("utf8-bom.csv", {}, ["id"]), [["id", "name"], [2, { id: "1", name: "Müller" }], [3, { id: "2", name: "Łukasz" }]]);
  });

  it("UTF-16LE with a byte order mark, found by auto and accepted when named", async () => {
    const expected: Outcome[] = [
      ["id", "name", "city"],
      [2, { id: "1", name: "Renée", city: "Besançon" }],
      [3, { id: "2", name: "Zoë, 😀", city: "Zürich" }],
    ];
    assert.deepEqual(await readFile("utf16le-bom.csv"), expected);
    assert.deepEqual(await readFile("utf16le-bom.csv", { encoding: "utf16le" }), expected);
  });

  it("windows-1252 accents, euro sign and smart quotes with encoding: windows1252; refused as UTF-8", async () => {
    assert.deepEqual(await readFile("cp1252.csv", { encoding: "windows1252", delimiter: ";" }), [
      ["id", "name", "price", "quote"],
      [2, { id: "1", name: "Renée Müller", price: "12,50 €", quote: "“Déjà vu”" }],
      [3, { id: "2", name: "Jürgen", price: "€3", quote: "‘ok’ – fine" }],
    ]);
    const e = await refused(file("cp1252.csv"), { delimiter: ";" }, "cp1252.csv");
    assert.equal(e.code, "SOURCE_FILE_NOT_UTF8");
    assert.match(e.message, /line 2; it has no byte order mark, so it was read as UTF-8\): set encoding: windows1252/);
  });

  it("ragged rows are rejected one by one, the file goes on", async () => {
    assert.deepEqual(await readFile("ragged.csv"), [
      ["id", "name", "email"],
      [2, { id: "1", name: "Ann", email: "ann@x.org" }],
      [3, "DATA_CSV_FIELD_COUNT"],
      [4, "DATA_CSV_FIELD_COUNT"],
      [5, { id: "4", name: "Dee", email: "dee@x.org" }],
      [7, "DATA_CSV_FIELD_COUNT"],
    ]);
  });

  it("an unclosed quote on line 5000 of 10000 fails the file, naming the line", async () => {
    const name = "deep.csv";
    async function* generated(): AsyncGenerator<Buffer> {
      yield Buffer.from("id,name\n");
      for (let line = 2; line <= 10_000; line += 500) {
        let chunk = "";
        for (let l = line; l < line + 500; l++) chunk += l === 5000 ? `${l},"never closed\n` : `${l},name ${l}\n`;
        yield Buffer.from(chunk);
      }
    }
    const open = await refused(generated, {}, name);
    assert.equal(open.code, "SOURCE_CSV_UNPARSABLE");
    assert.equal(
      open.message,
      "deep.csv: line 5000: a quoted field opened in the record starting on this line (field 2, \"name\") is never closed, so the rest of the file reads as part of it. "
      + "Close the quote (a quote inside a quoted value is written twice: \"\"), or set quote: null if the file never quotes values; nothing was applied",
    );
    assert.deepEqual(open.details, { line: 5000, field: 2, reason: "CSV_QUOTE_NOT_CLOSED" });
    // With a smaller limit the open quote swallows more than max_record_size before the end: same line.
    const large = await refused(generated, { max_record_size: 10_000 }, name);
    assert.equal(large.code, "SOURCE_CSV_RECORD_TOO_LARGE");
    assert.equal(large.details.line, 5000);
  });

  it("a header naming a column twice (here by case and spacing) fails the file", async () => {
    const e = await refused(file("duplicate-header.csv"), {}, "duplicate-header.csv");
    assert.equal(e.code, "SOURCE_CSV_DUPLICATE_HEADER");
    assert.equal(
      e.message,
      "duplicate-header.csv: the header (line 1) names the same column twice: column 2 (\"Email\") and column 4 (\" EMAIL \")"
      + " are the same name once case and spacing are ignored. Rename or remove one of them in the file (or fix the job's aliases); nothing was applied",
    );
  });

  it("an empty file, or one of only a byte order mark and blank lines, fails", async () => {
    for (const name of ["empty.csv", "bom-whitespace.csv"]) {
      const e = await refused(file(name), {}, name);
      assert.equal(e.code, "SOURCE_CSV_EMPTY", name);
      assert.match(e.message, new RegExp(`^${name}: the file is empty`));
    }
  });

  it("a header-only file is valid and has no records", async () => {
    assert.deepEqual(await readFile("header-only.csv"), [["id", "name", "email"]]);
  });

  it("a 10 MB field is read when max_record_size allows it, refused clearly when not", async () => {
    const size = 10 * 1024 * 1024;
    const piece = `${"x".repeat(1023)}\n`;
    async function* generated(): AsyncGenerator<Buffer> {
      yield Buffer.from("id,blob\n1,\"");
      const block = Buffer.from(piece.repeat(64));
      for (let written = 0; written < size; written += block.length) yield block;
      yield Buffer.from("\"\n2,small\n");
    }
    const items = await collect(generated(), { max_record_size: 16 * 1024 * 1024 }, { name: "big.csv" });
    assert.equal(items.length, 3);
    const [, big, small] = items;
    assert.ok(big?.kind === "record");
    assert.equal(big.line, 2);
    assert.equal(big.values.blob!.length, size);
    assert.ok(big.values.blob!.startsWith(piece) && big.values.blob!.endsWith(piece));
    assert.deepEqual(small, { kind: "record", line: 3 + size / piece.length, values: { id: "2", blob: "small" } });

    const e = await refused(generated, {}, "big.csv");
    assert.equal(e.code, "SOURCE_CSV_RECORD_TOO_LARGE");
    assert.equal(
      e.message,
      "big.csv: line 2: the record starting on this line is larger than max_record_size (1048576 bytes) (field 2, \"blob\"). "
      + "Usually a quote is never closed or the delimiter (\",\") is wrong; if the file really holds values this large, raise max_record_size in the job; nothing was applied",
    );
  });

  it("semicolons between fields, commas in decimals", async () => {
    assert.deepEqual(await readFile("semicolon-decimal.csv", { delimiter: ";" }), [
      ["id", "amount", "rate", "label"],
      [2, { id: "1", amount: "1234,56", rate: "0,5", label: "a, b" }],
      [3, { id: "2", amount: "-0,01", rate: "12", label: "x;y" }],
    ]);
  });

  it("aliases and header names matched regardless of case and whitespace", async () => {
    const format = { delimiter: ";", aliases: { email: ["E-mail", "Email Address"], phone: ["Phone Number", "Tel"] } };
    assert.deepEqual(await readFile("aliases.csv", format, ["customer no", "email", "phone"]), [
      ["customer no", "email", "phone", "Segment"],
      [2, { "customer no": "42", email: "ann@x.org", phone: "+33 1", Segment: "B2B" }],
    ]);
  });

  it("a byte order mark before a quoted first header name, or twice, does not stick to the name", async () => {
    assert.deepEqual(await readFile("bom-quoted-header.csv", {}, ["Customer #", "email"]), [
      ["Customer #", "email"],
      [2, { "Customer #": "C-1", email: "a@x.org" }],
    ]);
    assert.deepEqual(await readFile("double-bom.csv", {}, ["id"]), [["id", "name"], [2, { id: "1", name: "Ann" }]]);
  });

  it("a trailing empty line gives nothing", async () => {
    assert.deepEqual(await readFile("trailing-empty-line.csv"), [["id", "name"], [2, { id: "1", name: "Ann" }], [3, { id: "2", name: "Bob" }]]);
  });

  it("blank lines in the middle are skipped, and line numbers stay those of the file", async () => {
    assert.deepEqual(await readFile("blank-middle.csv"), [
      ["id", "name"],
      [2, { id: "1", name: "Ann" }],
      [5, { id: "2", name: "Bob" }],
      [6, { id: "3", name: "Cid" }],
    ]);
  });
});
