import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, it } from "node:test";
import { parse } from "csv-parse";
import { FatalError } from "../errors.ts";
import { type DecodeOptions, type TextEncodingName, decodeStream, decodeText, encodingSchema } from "./decode.ts";

async function* chunks(...parts: (number[] | Buffer)[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p);
}

async function decode(encoding: TextEncodingName, ...parts: (number[] | Buffer)[]): Promise<string> {
  let out = "";
  for await (const s of decodeText(chunks(...parts), encoding)) out += s;
  return out;
}

/** Decodes `bytes` cut at every pair of positions, so each character is split every possible way. */
async function decodeEverySplit(encoding: TextEncodingName, bytes: Buffer): Promise<Set<string>> {
  const results = new Set<string>();
  for (let i = 0; i <= bytes.length; i++) {
    for (let j = i; j <= bytes.length; j++) {
      results.add(await decode(encoding, bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)));
    }
  }
  return results;
}

async function failure(encoding: TextEncodingName, parts: (number[] | Buffer)[], options: DecodeOptions = {}): Promise<FatalError> {
  try {
    for await (const _ of decodeText(chunks(...parts), encoding, options));
  } catch (e) {
    assert.ok(e instanceof FatalError, `expected a FatalError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected the decoding to fail");
}

const ascii = (s: string): Buffer => Buffer.from(s, "latin1");

describe("decodeText", () => {
  it("decodes UTF-8 characters split across chunks anywhere", async () => {
    const text = "aé€😀z";
    assert.deepEqual(await decodeEverySplit("utf8", Buffer.from(text, "utf8")), new Set([text]));
    const oneByteChunks = [...Buffer.from(text, "utf8")].map((b) => [b]);
    assert.equal(await decode("utf8", ...oneByteChunks), text);
  });

  it("decodes UTF-16 surrogate pairs split across chunks anywhere, and yields no lone surrogate", async () => {
    const text = "a😀é";
    const le = Buffer.from(text, "utf16le");
    const be = Buffer.from(le).swap16();
    assert.deepEqual(await decodeEverySplit("utf16le", le), new Set([text]));
    assert.deepEqual(await decodeEverySplit("utf16be", be), new Set([text]));
    assert.deepEqual(await decodeEverySplit("auto", Buffer.concat([Buffer.from([0xfe, 0xff]), be])), new Set([text]));
    const yielded: string[] = [];
    for await (const s of decodeText(chunks(be.subarray(0, 4), be.subarray(4)), "utf16be")) yielded.push(s);
    assert.deepEqual(yielded, ["a", "😀é"]);
  });

  it("removes each byte order mark, also when it is split across chunks", async () => {
    assert.equal(await decode("utf8", [0xef, 0xbb, 0xbf, 0x41]), "A");
    assert.equal(await decode("auto", [0xef], [0xbb], [0xbf, 0x41]), "A");
    assert.equal(await decode("utf16le", [0xff, 0xfe, 0x41, 0x00]), "A");
    assert.equal(await decode("auto", [0xff], [0xfe, 0x41, 0x00]), "A");
    assert.equal(await decode("utf16be", [0xfe, 0xff, 0x00, 0x41]), "A");
    assert.equal(await decode("auto", [0xfe, 0xff], [0x00, 0x41]), "A");
    assert.equal(await decode("auto", [0xef, 0xbb, 0xbf]), "");
    assert.equal(await decode("auto"), "");
    assert.equal(await decode("utf16le", [0x41, 0x00]), "A");
  });

  it("refuses a byte order mark that contradicts the encoding set", async () => {
    const e = await failure("utf8", [[0xff, 0xfe, 0x41, 0x00]]);
    assert.equal(e.code, "SOURCE_FILE_BOM_MISMATCH");
    assert.equal(
      e.message,
      "the file starts with a UTF-16LE byte order mark but the job says encoding: utf8: set encoding: utf16le (or auto) in the job",
    );
    assert.equal((await failure("windows1252", [[0xef, 0xbb, 0xbf, 0x41]])).code, "SOURCE_FILE_BOM_MISMATCH");
    assert.equal((await failure("utf16le", [[0xfe, 0xff, 0x00, 0x41]])).code, "SOURCE_FILE_BOM_MISMATCH");
  });

  it("decodes windows-1252 accents, euro sign and smart quotes, and Latin-1 bytes", async () => {
    const bytes = [0x43, 0x61, 0x66, 0xe9, 0x20, 0x80, 0x35, 0x20, 0x93, 0x71, 0x94, 0x20, 0x91, 0x78, 0x92, 0x20, 0x96, 0x97];
    assert.equal(await decode("windows1252", bytes), "Café €5 “q” ‘x’ –—");
    assert.equal(await decode("latin1", [0xe9, 0x80, 0xff]), "é\u0080ÿ");
  });

  it("refuses a byte windows-1252 leaves undefined instead of replacing it", async () => {
    const e = await failure("windows1252", [ascii("ab\nc"), [0x81]]);
    assert.equal(e.code, "SOURCE_FILE_BAD_BYTE");
    assert.equal(
      e.message,
      "the file is not valid windows-1252 (byte 0x81 at offset 4, line 2 has no character in windows-1252): check the file's encoding; latin1 accepts every byte",
    );
  });

  it("refuses invalid UTF-8 naming the byte, its offset and line, and the setting that fixes it", async () => {
    const e = await failure("utf8", [ascii("id;name\n1;Ren"), [0xe9, 0x0a]], { name: "in/customers.csv" });
    assert.equal(e.code, "SOURCE_FILE_NOT_UTF8");
    assert.equal(
      e.message,
      "in/customers.csv: the file is not valid UTF-8 (byte 0xE9 at offset 13, line 2): set encoding: windows1252 (or latin1) in the job",
    );
    assert.deepEqual(e.details, { encoding: "utf8", offset: 13, line: 2, byte: 0xe9 });
  });

  it("counts the BOM and earlier chunks in the offset", async () => {
    const e = await failure("auto", [[0xef, 0xbb, 0xbf], Buffer.from("é\n€\n", "utf8"), [0x41, 0xc3, 0x28]]);
    assert.equal(
      e.message,
      "the file is not valid UTF-8 (byte 0xC3 at offset 11, line 3): set encoding: windows1252 (or latin1) in the job",
    );
  });

  it("says why auto read a file without a byte order mark as UTF-8", async () => {
    const e = await failure("auto", [[0x43, 0x61, 0x66, 0xe9]]);
    assert.equal(
      e.message,
      "the file is not valid UTF-8 (byte 0xE9 at offset 3, line 1; it has no byte order mark, so it was read as UTF-8): set encoding: windows1252 (or latin1) in the job",
    );
  });

  it("refuses UTF-8 cut in the middle of a character at the end of the file", async () => {
    const e = await failure("utf8", [[0x61, 0x62, 0xe2], [0x82]]);
    assert.deepEqual(e.details, { encoding: "utf8", offset: 2, line: 1, byte: 0xe2 });
  });

  it("keeps a U+FFFD the file really contains, split or not, and still finds a bad byte after it", async () => {
    const replacement = Buffer.from("x\uFFFDy", "utf8");
    assert.deepEqual(await decodeEverySplit("utf8", replacement), new Set(["x\uFFFDy"]));
    const e = await failure("utf8", [replacement.subarray(0, 2), replacement.subarray(2), [0x0a, 0xff]]);
    assert.deepEqual(e.details, { encoding: "utf8", offset: 6, line: 2, byte: 0xff });
  });

  it("refuses UTF-16 with an odd number of bytes or an unpaired surrogate", async () => {
    const odd = await failure("utf16le", [[0x41, 0x00, 0x42]]);
    assert.equal(odd.code, "SOURCE_FILE_NOT_UTF16");
    assert.equal(
      odd.message,
      "the file is not valid UTF-16LE: it has an odd number of bytes, so its last character is cut; check the file's encoding or whether it was truncated",
    );
    const lone = await failure("utf16le", [[0xff, 0xfe, 0x41, 0x00, 0x0a, 0x00, 0x00, 0xdc, 0x42, 0x00]]);
    assert.equal(lone.message, "the file is not valid UTF-16LE (an unpaired surrogate at offset 6, line 2): check the file's encoding");
    const cut = await failure("utf16be", [[0x00, 0x41, 0xd8, 0x3d]]);
    assert.deepEqual(cut.details, { encoding: "utf16be", offset: 2, line: 1, byte: 0xd8 });
  });

  it("reads a Node stream, and refuses one opened with an encoding", async () => {
    let out = "";
    for await (const s of decodeText(Readable.from([Buffer.from("h\xe9", "latin1")]), "latin1")) out += s;
    assert.equal(out, "hé");
    await assert.rejects(async () => {
      for await (const _ of decodeText(Readable.from(["text"]), "utf8"));
    }, /open the stream without an encoding/);
  });

  it("composes with csv-parse in a stream pipeline", async () => {
    const records: string[][] = [];
    await pipeline(
      Readable.from([ascii("id;name\r\n1;Ren\xe9 \x93R\x94")]),
      decodeStream("windows1252"),
      parse({ delimiter: ";" }),
      async (rows: AsyncIterable<string[]>) => {
        for await (const row of rows) records.push(row);
      },
    );
    assert.deepEqual(records, [["id", "name"], ["1", "René “R”"]]);
    await assert.rejects(
      pipeline(Readable.from([Buffer.from([0x61, 0xe9, 0x0a])]), decodeStream("utf8"), parse(), async (rows: AsyncIterable<unknown>) => {
        for await (const _ of rows);
      }),
      { code: "SOURCE_FILE_NOT_UTF8" },
    );
  });

  it("defaults the encoding option to auto and accepts only known names", () => {
    assert.equal(encodingSchema.parse(undefined), "auto");
    assert.equal(encodingSchema.parse("windows1252"), "windows1252");
    assert.equal(encodingSchema.safeParse("cp1252").success, false);
  });
});
