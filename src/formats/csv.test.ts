import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { z } from "zod";
import { ConfigError, FatalError, type FerryError } from "../errors.ts";
import { type CsvSpec, csvFormatSchema, normalizeHeader } from "./csv.config.ts";
import { type CsvItem, type CsvOptions, readCsv } from "./csv.ts";
import { fixedWidthFormatSchema } from "./fixed-width.config.ts";

const NAME = "in.csv";

function spec(extra: Record<string, unknown> = {}): CsvSpec {
  return csvFormatSchema.parse({ format: "csv", ...extra });
}

async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield typeof p === "string" ? Buffer.from(p) : p;
}

type Input = AsyncIterable<Uint8Array> | NodeJS.ReadableStream;

async function items(input: Input, s: CsvSpec, options: Partial<CsvOptions> = {}): Promise<CsvItem[]> {
  const out: CsvItem[] = [];
  for await (const item of readCsv(input, s, { name: NAME, ...options })) out.push(item);
  return out;
}

/** Items in short: the header's columns, [line, values] per record, [line, code] per reject. */
type Brief = string[] | [number, Record<string, string>] | [number, string];

function brief(list: CsvItem[]): Brief[] {
  return list.map((i) => (i.kind === "header" ? i.columns : i.kind === "record" ? [i.line, i.values] : [i.line, i.error.code]));
}

async function read(text: string | Buffer, extra: Record<string, unknown> = {}, options: Partial<CsvOptions> = {}): Promise<Brief[]> {
  return brief(await items(chunks(text), spec(extra), options));
}

async function failure(text: string | Buffer, extra: Record<string, unknown> = {}, options: Partial<CsvOptions> = {}): Promise<FerryError> {
  try {
    await items(chunks(text), spec(extra), options);
  } catch (e) {
    assert.ok(e instanceof FatalError || e instanceof ConfigError, `expected a FatalError or ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected the file to be refused");
}

function configIssues(input: Record<string, unknown>): string[] {
  const result = csvFormatSchema.safeParse({ format: "csv", ...input });
  assert.equal(result.success, false);
  return result.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

describe("csv config", () => {
  it("has defaults, and sits in a union with fixed-width", () => {
    assert.deepEqual(spec(), {
      format: "csv",
      encoding: "auto",
      delimiter: ",",
      quote: "\"",
      header: true,
      aliases: {},
      max_record_size: 1_048_576,
      skip_empty_lines: true,
      trim: false,
    });
    const union = z.discriminatedUnion("format", [csvFormatSchema, fixedWidthFormatSchema]);
    assert.equal(union.parse({ format: "csv", delimiter: ";" }).format, "csv");
    assert.equal(union.parse({ format: "fixed-width", columns: [{ name: "a", start: 1, width: 2 }] }).format, "fixed-width");
    const schema = z.toJSONSchema(csvFormatSchema, { io: "input" }) as { properties: Record<string, { description?: string }> };
    for (const [field, property] of Object.entries(schema.properties)) assert.ok(property.description, `${field} has a description`);
  });

  it("refuses contradictory settings with messages naming them", () => {
    assert.deepEqual(configIssues({ columns: ["a"] }), [
      "columns: columns names the fields of a file without a header (header: false); with a header, rename a column with aliases",
    ]);
    assert.deepEqual(configIssues({ header: false }), ["columns: a file without a header (header: false) needs columns: its column names, in file order"]);
    assert.deepEqual(configIssues({ header: false, columns: ["Email", " email "] }), ["columns.1: \"email\" is the same column name as \"Email\""]);
    assert.deepEqual(configIssues({ aliases: { email: ["E-mail"], mail: ["e-mail "] } }), [
      "aliases.mail: \"e-mail\" cannot be another name of mail: it already names email",
    ]);
    assert.deepEqual(configIssues({ aliases: { email: ["Mail"], mail: ["x"] } }), ["aliases.email: \"Mail\" cannot be another name of email: it already names mail"]);
    assert.deepEqual(configIssues({ delimiter: "\"" }), ["quote: the quote (\") cannot be part of the delimiter (\")"]);
    assert.deepEqual(configIssues({ quote: null, escape: "\\" }), ["escape: escape applies to quoted fields: set a quote, or remove escape"]);
    assert.deepEqual(configIssues({ comment: "," }), ["comment: the comment character (,) cannot be the quote or part of the delimiter"]);
    assert.deepEqual(configIssues({ delimiter: ",\n" }), ["delimiter: the delimiter cannot contain a line break"]);
    assert.deepEqual(configIssues({ quote: "''" }), ["quote: quote is one character"]);
    assert.deepEqual(configIssues({ max_record_size: 0 }).length, 1);
    assert.match(configIssues({ sperator: ";" })[0]!, /sperator/);
  });

  it("normalizes header names: trimmed, inner whitespace collapsed, case ignored", () => {
    assert.equal(normalizeHeader("\uFEFF  E-Mail\u00a0  Address \t"), "e-mail address");
    assert.equal(normalizeHeader("Cafe\u0301"), normalizeHeader("CAFÉ"));
  });
});

describe("readCsv", () => {
  it("gives the same items wherever the chunks break, with multi-byte characters and CRLF inside quotes", async () => {
    const bytes = Buffer.from("id;name\r\n1;\"Zoë\r\n“€😀”\"\r\n\r\n2;\"a;\"\"b\"\"\"\r\n", "utf8");
    const expected: Brief[] = [["id", "name"], [2, { id: "1", name: "Zoë\r\n“€😀”" }], [5, { id: "2", name: "a;\"b\"" }]];
    const s = spec({ delimiter: ";" });
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j += 3) {
        const got = brief(await items(chunks(bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)), s));
        assert.deepEqual(got, expected, `cut at ${i} and ${j}`);
      }
    }
  });

  it("reads other delimiters: tab, pipe, several characters", async () => {
    assert.deepEqual(await read("a\tb\n1\t2,5\n", { delimiter: "\t" }), [["a", "b"], [2, { a: "1", b: "2,5" }]]);
    assert.deepEqual(await read("a|b\n\"x|y\"|2\n", { delimiter: "|" }), [["a", "b"], [2, { a: "x|y", b: "2" }]]);
    assert.deepEqual(await read("a||b\n1|2||3\n\"4||\"||5\n", { delimiter: "||" }), [["a", "b"], [2, { a: "1|2", b: "3" }], [3, { a: "4||", b: "5" }]]);
  });

  it("reads quoting as set: none, another quote character, backslash escapes", async () => {
    assert.deepEqual(await read("a,b\n\"x,5\" pipe\n", { quote: null }), [["a", "b"], [2, { a: "\"x", b: "5\" pipe" }]]);
    assert.deepEqual(await read("a,b\n'it''s, ok',\"q\"\n", { quote: "'" }), [["a", "b"], [2, { a: "it's, ok", b: "\"q\"" }]]);
    assert.deepEqual(await read("a,b\n\"say \\\"hi\\\"\",\"c:\\\\\"\n", { escape: "\\" }), [["a", "b"], [2, { a: "say \"hi\"", b: "c:\\" }]]);
  });

  it("keys records by alias name, by the caller's spelling, else by the header as written", async () => {
    const text = "\uFEFF Customer  # ,E-MAIL,Phone Number , ,Notes\n1,a@x.org,555,,n\n";
    const out = await read(text, { aliases: { email: ["E-mail", "Email Address"] } }, { columns: ["customer #", "email"] });
    assert.deepEqual(out, [
      ["customer #", "email", "Phone Number", "Notes"],
      [2, { "customer #": "1", email: "a@x.org", "Phone Number": "555", Notes: "n" }],
    ]);
    assert.deepEqual(await read("Email Address\nb@x.org\n", { aliases: { email: ["E-mail", "Email Address"] } }), [["email"], [2, { email: "b@x.org" }]]);
    assert.deepEqual(await read("EMAIL\nb@x.org\n", { aliases: { Email: ["E-mail"] } }, { columns: ["email"] }), [["email"], [2, { email: "b@x.org" }]]);
  });

  it("fails a file that lacks a column the caller reads, naming the aliases tried and what the header has", async () => {
    const e = await failure("id,Mail\n1,a@x.org\n", { aliases: { email: ["E-mail", "Email Address"] } }, { columns: ["id", "email"] });
    assert.equal(e.code, "SOURCE_CSV_MISSING_COLUMN");
    assert.equal(
      e.message,
      "in.csv: the header (line 1) has no column \"email\" (nor \"E-mail\", \"Email Address\"), which the mapping reads; it has \"id\", \"Mail\". "
      + "If the column was renamed, add its new name to the job's aliases; nothing was applied",
    );
    const unknown = await failure("1,2\n", { header: false, columns: ["id", "mail"] }, { columns: ["email"] });
    assert.ok(unknown instanceof ConfigError);
    assert.equal(unknown.code, "CONFIG_CSV_UNKNOWN_COLUMN");
    const conflict = await failure("id\n", { aliases: { email: ["E-mail"] } }, { columns: ["E-Mail"] });
    assert.ok(conflict instanceof ConfigError);
    assert.equal(conflict.code, "CONFIG_CSV_ALIAS_CONFLICT");
    const stream = Readable.from([Buffer.from("id\n")]);
    await assert.rejects(items(stream, spec({ aliases: { email: ["E-mail"] } }), { columns: ["E-Mail"] }), ConfigError);
    assert.ok(stream.destroyed, "the input is released");
  });

  it("fails a header naming a column twice, giving both positions, whether by spelling, case or alias", async () => {
    const same = await failure("id,name,id\n");
    assert.equal(same.code, "SOURCE_CSV_DUPLICATE_HEADER");
    assert.equal(
      same.message,
      "in.csv: the header (line 1) names the same column twice: column 1 (\"id\") and column 3 (\"id\"). "
      + "Rename or remove one of them in the file (or fix the job's aliases); nothing was applied",
    );
    assert.deepEqual(same.details, { line: 1, columns: [1, 3], names: ["id", "id"], key: "id" });
    assert.match((await failure("\n\nEmail,EMAIL \n")).message, /header \(line 3\) .* column 1 \("Email"\) and column 2 \("EMAIL "\) are the same name once case and spacing are ignored/);
    const alias = await failure("E-mail,id,Email Address\n", { aliases: { email: ["E-mail", "Email Address"] } });
    assert.match(alias.message, /column 1 \("E-mail"\) and column 3 \("Email Address"\) both read as "email"/);
  });

  it("rejects a record with too few or too many fields and goes on", async () => {
    const list = await items(chunks("a,b,c\n1,2\n1,2,3\n1,2,3,4\n,,\n"), spec());
    assert.deepEqual(brief(list), [["a", "b", "c"], [2, "DATA_CSV_FIELD_COUNT"], [3, { a: "1", b: "2", c: "3" }], [4, "DATA_CSV_FIELD_COUNT"], [5, { a: "", b: "", c: "" }]]);
    const reject = list[1]!;
    assert.ok(reject.kind === "reject");
    assert.equal(
      reject.error.message,
      "in.csv: line 2 has 2 fields; the header (line 1) has 3: check the line for a missing or extra delimiter (\",\"), or a value holding one that should be quoted",
    );
    assert.deepEqual(reject.error.details, { line: 2, fields: 2, expected: 3 });
  });

  it("trims values outside quotes only when asked", async () => {
    assert.deepEqual(await read("a,b\n  x ,\" y \"\n"), [["a", "b"], [2, { a: "  x ", b: " y " }]]);
    assert.deepEqual(await read("a , b\n  x , \" y \" \n", { trim: true }), [["a", "b"], [2, { a: "x", b: " y " }]]);
  });

  it("skips comment lines and counts them; the comment character is data elsewhere", async () => {
    const text = "# exported 2024-01-31\nid,note\n# a comment\n1,item #5\n2,\"\n# not a comment\"\n3,x\n";
    assert.deepEqual(await read(text, { comment: "#" }), [
      ["id", "note"],
      [4, { id: "1", note: "item #5" }],
      [5, { id: "2", note: "\n# not a comment" }],
      [7, { id: "3", note: "x" }],
    ]);
  });

  it("skips blank and whitespace-only lines, counting them, unless skip_empty_lines is false", async () => {
    const text = "\n  \na,b\n\n \t \n1,2\n\n";
    assert.deepEqual(await read(text), [["a", "b"], [6, { a: "1", b: "2" }]]);
    assert.deepEqual(await read("a,b\n\n1,2\n", { skip_empty_lines: false }), [["a", "b"], [2, "DATA_CSV_FIELD_COUNT"], [3, { a: "1", b: "2" }]]);
  });

  it("reads a file without a header by the job's columns", async () => {
    assert.deepEqual(await read("\n1,Ann\n2,Bob,x\n", { header: false, columns: ["id", "name"] }, { columns: ["ID"] }), [
      ["ID", "name"],
      [2, { ID: "1", name: "Ann" }],
      [3, "DATA_CSV_FIELD_COUNT"],
    ]);
  });

  it("keeps a header named __proto__ as an ordinary key", async () => {
    const [, record] = await read("__proto__,b\n1,2\n");
    const values = (record as [number, Record<string, string>])[1];
    assert.deepEqual(Object.keys(values), ["__proto__", "b"]);
    assert.equal(Object.getPrototypeOf(values), Object.prototype);
  });

  it("fails the file on quotes it cannot read, naming the line and the field", async () => {
    const closing = await failure("id,name\n1,ok\n2,\"Ann\"e\n");
    assert.equal(closing.code, "SOURCE_CSV_UNPARSABLE");
    assert.equal(
      closing.message,
      "in.csv: line 3: in the record starting on this line, a quoted field (field 2, \"name\") is followed by other characters before the next delimiter. "
      + "A quote inside a quoted value is written twice (\"\"); check the delimiter (\",\"), or set quote: null if the file never quotes values; nothing was applied",
    );
    assert.deepEqual(closing.details, { line: 3, field: 2, reason: "CSV_INVALID_CLOSING_QUOTE" });
    const opening = await failure("id,size\n\n1,5\" pipe\n");
    assert.match(opening.message, /^in\.csv: line 3: in the record starting on this line, a field \(field 2, "size"\) holds a quote/);
    const header = await failure("id,\"name\n1,2\n");
    assert.match(header.message, /^in\.csv: line 1: a quoted field opened in the record starting on this line \(field 2\) is never closed/);
  });

  it("fails a file whose lines end with a lone CR", async () => {
    const e = await failure("id,name\r1,Ann\r2,Bob\r");
    assert.equal(e.code, "SOURCE_CSV_UNPARSABLE");
    assert.match(e.message, /^in\.csv: line 1: the header holds a carriage return that ends no line \(in column 2\)/);
  });

  it("fails an empty file, a blank one and a header without names", async () => {
    for (const text of ["", "\uFEFF", "\n \r\n\t\n", Buffer.from([0xff, 0xfe, 0x0a, 0x00])]) {
      const e = await failure(text);
      assert.equal(e.code, "SOURCE_CSV_EMPTY", JSON.stringify(text));
      assert.equal(
        e.message,
        "in.csv: the file is empty (no line holds anything but whitespace): expected a header line. Check that the export ran to completion; nothing was applied",
      );
    }
    assert.equal((await failure("# only\n# comments\n", { comment: "#" })).code, "SOURCE_CSV_EMPTY");
    assert.equal((await failure("", { header: false, columns: ["a"] })).code, "SOURCE_CSV_EMPTY");
    assert.match((await failure(" , ,\n1,2,3\n")).message, /^in\.csv: the header \(line 1\) names no column: every name is blank/);
  });

  it("passes decoding errors through", async () => {
    const notUtf8 = await failure(Buffer.from("a,b\n1,caf\xe9\n", "latin1"));
    assert.equal(notUtf8.code, "SOURCE_FILE_NOT_UTF8");
    assert.match(notUtf8.message, /^in\.csv: the file is not valid UTF-8 \(byte 0xE9 at offset 9, line 2;/);
    assert.equal((await failure(Buffer.from("\uFEFFa\n1\n"), { encoding: "windows1252" })).code, "SOURCE_FILE_BOM_MISMATCH");
  });

  it("reads a Node stream and stops reading the input when the caller stops", async () => {
    assert.deepEqual(brief(await items(Readable.from([Buffer.from("a\n1\n"), Buffer.from("2\n")]), spec())), [["a"], [2, { a: "1" }], [3, { a: "2" }]]);
    let produced = 0;
    let closed = false;
    async function* endless(): AsyncGenerator<Buffer> {
      try {
        yield Buffer.from("n\n");
        for (;;) {
          produced++;
          yield Buffer.from(`${produced}\n`.repeat(100));
        }
      } finally {
        closed = true;
      }
    }
    let records = 0;
    for await (const item of readCsv(endless(), spec(), { name: NAME })) {
      if (item.kind === "record" && ++records === 250) break;
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(closed, "the input was closed");
    // Stream buffers read ahead a few tens of kilobytes; the input was not read to its (absent) end.
    assert.ok(produced < 1000, `read ${produced} chunks for 250 records`);
  });
});

describe("readCsv with record types (records:)", () => {
  const header = "Customer #,First name,E-mail,Phone\n";
  const trailerOnly = { records: { type_field: 1, trailer: { type: "T", count_field: 2 } } };

  it("recognises a trailer padded to the full width by its record type, and checks its count", async () => {
    const text = `${header}C1,Ann,a@x.org,\nC2,Bob,b@x.org,\nT,000002,,\n`;
    assert.deepEqual(await read(text, trailerOnly), [
      ["Customer #", "First name", "E-mail", "Phone"],
      [2, { "Customer #": "C1", "First name": "Ann", "E-mail": "a@x.org", Phone: "" }],
      [3, { "Customer #": "C2", "First name": "Bob", "E-mail": "b@x.org", Phone: "" }],
    ]);
    // A short trailer is a trailer too, not a record with the wrong number of fields.
    assert.deepEqual((await read(`${header}C1,Ann,a@x.org,\nT,1\n`, trailerOnly)).length, 2);
    // Without records:, the same line is a customer "T": what the setting is for.
    assert.deepEqual((await read(text)).at(-1), [4, { "Customer #": "T", "First name": "000002", "E-mail": "", Phone: "" }]);
  });

  it("fails the file when the trailer's count disagrees, is missing, is not a number, or lines follow it", async () => {
    const count = await failure(`${header}C1,Ann,a@x.org,\nC2,Bob,b@x.org,\nC3,Cy,c@x.org,\nT,000002,,\n`, trailerOnly);
    assert.equal(count.code, "SOURCE_CSV_TRAILER_COUNT");
    assert.equal(
      count.message,
      "in.csv: the trailer on line 5 says the file holds 2 records; it holds 3: the file is incomplete or altered; nothing was applied",
    );
    assert.deepEqual(count.details, { line: 5, expected: 2, actual: 3, unknown: 0 });
    const missing = await failure(`${header}C1,Ann,a@x.org,\n`, trailerOnly);
    assert.equal(missing.code, "SOURCE_CSV_NO_TRAILER");
    assert.equal(
      missing.message,
      "in.csv: the file has no trailer (a line whose field 1 is \"T\"): it may be truncated (an export still running, a transfer cut short); nothing was applied",
    );
    const bad = await failure(`${header}C1,Ann,a@x.org,\nT,two,,\n`, trailerOnly);
    assert.equal(bad.code, "SOURCE_CSV_BAD_TRAILER");
    assert.equal(bad.message, "in.csv: the trailer on line 3 holds \"two\" in field 2, where the number of records should be; nothing was applied");
    const after = await failure(`${header}C1,Ann,a@x.org,\nT,1,,\nC2,Bob,b@x.org,\n`, trailerOnly);
    assert.equal(after.code, "SOURCE_CSV_AFTER_TRAILER");
    assert.equal(after.message, "in.csv: line 4 comes after the trailer on line 3, which ends the file; nothing was applied");
  });

  it("skips header records (before or after the column names), reads detail types only, and counts them", async () => {
    const records = { type_field: 1, skip: ["H", "B"], detail: ["D"], trailer: { type: "T", count_field: 2 } };
    const text = "H,20261121,FIELD\ntype,id,email\nB,1\nD,C1,a@x.org\nX,C9,x@x.org\nD,C2\nT,2\n";
    assert.deepEqual(await read(text, { records }), [
      ["type", "id", "email"],
      [4, { type: "D", id: "C1", email: "a@x.org" }],
      [5, "DATA_CSV_UNKNOWN_RECORD_TYPE"],
      [6, "DATA_CSV_FIELD_COUNT"],
    ]);
    const [, , unknown] = await items(chunks(text), spec({ records }));
    assert.ok(unknown?.kind === "reject");
    assert.equal(unknown.error.message, "in.csv: line 5 is of record type \"X\" (field 1), which the job does not name; expected \"D\", or \"H\", \"B\" (read past), or \"T\" (the trailer)");
    const strays = await failure(text.replace("T,2", "T,3"), { records });
    assert.match(strays.message, /the trailer on line 7 says the file holds 3 records; it holds 2 \(and 1 line of no known record type\)/);
    const headerless = { header: false, columns: ["type", "id"], records: { type_field: 1, skip: ["H"], trailer: { type: "T", count_field: 2 } } };
    assert.deepEqual(await read("H,x\n D ,1\nT,1\n", headerless), [["type", "id"], [2, { type: " D ", id: "1" }]]);
    assert.deepEqual(await read("H,x\nT,0\n", headerless), [["type", "id"]], "a trailer saying 0: an empty delivery, not an empty file");
  });

  it("refuses records settings that contradict themselves", () => {
    assert.deepEqual(configIssues({ records: { type_field: 1, skip: ["T"], trailer: { type: "T", count_field: 2 } } }), [
      "records.trailer.type: \"T\" is both the trailer's type and a type to skip",
    ]);
    assert.deepEqual(configIssues({ records: { type_field: 2, detail: ["D"], trailer: { type: "D", count_field: 2 } } }), [
      "records.trailer.type: \"D\" is both the trailer's type and a detail type",
      "records.trailer.count_field: the count cannot be in the record type's field (2)",
    ]);
    assert.deepEqual(configIssues({ records: { type_field: 1 } }), ["records: give at least one of skip, detail or trailer"]);
    assert.deepEqual(configIssues({ records: { type_field: 1, detail: ["D"], skip: ["D"] } }), ["records.skip: \"D\" is both a detail type and a type to skip"]);
  });
});
