/**
 * Bytes to text for the file-based sources (a local file, a watched folder, SFTP), decoded as a stream by
 * iconv-lite so a character split across chunks decodes whole and memory depends on the chunk size.
 *
 * The decoder never invents characters: where iconv-lite would put U+FFFD (or, for UTF-16, a lone
 * surrogate) in place of bytes it cannot decode, the whole file fails with a FatalError naming the byte
 * offset (0-based, from the start of the file, BOM included) and the line. A replaced character would
 * otherwise travel into the SaaS as a corrupted name; a file commits as one unit, so failing it applies
 * nothing and the fix is one line of the job.
 */
import { Duplex } from "node:stream";
import iconv from "iconv-lite";
import { z } from "zod";
import { type FatalCode, FatalError } from "../errors.ts";

export const TEXT_ENCODINGS = ["auto", "utf8", "utf16le", "utf16be", "windows1252", "latin1"] as const;
export type TextEncodingName = (typeof TEXT_ENCODINGS)[number];
type Concrete = Exclude<TextEncodingName, "auto">;

export const encodingSchema = z
  .enum(TEXT_ENCODINGS)
  .default("auto")
  .describe(
    "The file's text encoding. auto: from the byte order mark (UTF-8, UTF-16LE or UTF-16BE), else UTF-8. "
    + "A byte order mark is always removed. A file that is not valid in its encoding fails whole; "
    + "legacy Windows exports are usually windows1252.",
  );

export interface DecodeOptions {
  /** Names the file in error messages. */
  name?: string;
}

const LABEL: Record<Concrete, string> = {
  utf8: "UTF-8",
  utf16le: "UTF-16LE",
  utf16be: "UTF-16BE",
  windows1252: "windows-1252",
  latin1: "Latin-1",
};

const BOMS: readonly { encoding: Concrete; bytes: Buffer }[] = [
  { encoding: "utf8", bytes: Buffer.from([0xef, 0xbb, 0xbf]) },
  { encoding: "utf16le", bytes: Buffer.from([0xff, 0xfe]) },
  { encoding: "utf16be", bytes: Buffer.from([0xfe, 0xff]) },
];
const LONGEST_BOM = 3;

/**
 * Decodes a byte stream (a Node readable opened without an encoding, or any async iterable of bytes) into
 * text chunks; empty chunks are not yielded. Throws FatalError `SOURCE_FILE_BOM_MISMATCH` when the BOM
 * names another encoding than the one set, and `SOURCE_FILE_NOT_UTF8`, `SOURCE_FILE_NOT_UTF16` or
 * `SOURCE_FILE_BAD_BYTE` (windows-1252's five undefined bytes) when the bytes do not decode.
 *
 * "auto" without a BOM is strict UTF-8, not a guess at windows-1252: a stream cannot take back the rows
 * it has already yielded, and a guess made on the first chunk is wrong for the file whose first accent
 * comes later. Failing with "set encoding: windows1252" is one edit; a wrong guess is silent mojibake.
 */
export async function* decodeText(
  input: AsyncIterable<Uint8Array> | NodeJS.ReadableStream,
  encoding: TextEncodingName,
  options: DecodeOptions = {},
): AsyncGenerator<string> {
  let head: Buffer | null = Buffer.alloc(0);
  let decoder: CheckedDecoder | null = null;
  for await (const chunk of input as AsyncIterable<Uint8Array | string>) {
    if (typeof chunk === "string") {
      throw new TypeError("decodeText needs bytes: open the stream without an encoding");
    }
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let text: string;
    if (decoder === null) {
      head = Buffer.concat([head!, bytes]);
      if (head.length < LONGEST_BOM) continue;
      decoder = openDecoder(head, encoding, options);
      text = decoder.write(head.subarray(decoder.bomLength));
      head = null;
    } else {
      text = decoder.write(bytes);
    }
    if (text) yield text;
  }
  if (decoder === null) {
    decoder = openDecoder(head!, encoding, options);
    const text = decoder.write(head!.subarray(decoder.bomLength));
    if (text) yield text;
  }
  const rest = decoder.end();
  if (rest) yield rest;
}

/**
 * decodeText as a Duplex, for `stream.pipeline`/`compose` chains such as
 * `pipeline(createReadStream(file), decodeStream("windows1252"), parse(...))`.
 */
export function decodeStream(encoding: TextEncodingName, options: DecodeOptions = {}): Duplex {
  return Duplex.from(async function* (source: AsyncIterable<Uint8Array>) {
    yield* decodeText(source, encoding, options);
  });
}

function openDecoder(head: Buffer, requested: TextEncodingName, options: DecodeOptions): CheckedDecoder {
  const bom = BOMS.find((b) => head.subarray(0, b.bytes.length).equals(b.bytes));
  const encoding = requested === "auto" ? (bom?.encoding ?? "utf8") : requested;
  if (bom && bom.encoding !== encoding) {
    throw new FatalError(
      "SOURCE_FILE_BOM_MISMATCH",
      `${prefix(options)}the file starts with a ${LABEL[bom.encoding]} byte order mark but the job says encoding: ${requested}: `
      + `set encoding: ${bom.encoding} (or auto) in the job`,
      { details: { encoding: requested, bom: bom.encoding } },
    );
  }
  return new CheckedDecoder(encoding, bom?.bytes.length ?? 0, requested === "auto" && !bom, options);
}

function prefix(options: DecodeOptions): string {
  return options.name ? `${options.name}: ` : "";
}

type ByteAt = (offset: number) => number | undefined;
const MAX_HELD_BYTES = 3;

/** An iconv-lite decoder that knows how many bytes and lines it has emitted, to place a defect. */
class CheckedDecoder {
  readonly bomLength: number;
  private readonly encoding: Concrete;
  private readonly decoder: iconv.DecoderStream;
  /** auto found no BOM: the error says why it read UTF-8. */
  private readonly guessed: boolean;
  private readonly options: DecodeOptions;
  /** Bytes of input accounted for by the text emitted so far, counted from the start of the file. */
  private emitted: number;
  private newlines = 0;
  private received = 0;
  /** A high surrogate ending one write waits for its pair: iconv-lite's utf16be decoder does not hold it. */
  private pendingHigh = "";
  /**
   * The last bytes received before the current write: a decoder holds back at most 3 bytes of a character,
   * so the bytes behind any character it emits are in `tail` + the current chunk.
   */
  private tail = Buffer.alloc(0);

  constructor(encoding: Concrete, bomLength: number, guessed: boolean, options: DecodeOptions) {
    this.encoding = encoding;
    this.bomLength = bomLength;
    this.emitted = bomLength;
    this.guessed = guessed;
    this.options = options;
    this.decoder = iconv.getDecoder(encoding, { stripBOM: false });
  }

  write(bytes: Buffer): string {
    const text = this.accept(this.pendingHigh + this.decoder.write(bytes), this.byteReader(bytes), false);
    this.received += bytes.length;
    this.tail = bytes.length >= MAX_HELD_BYTES
      ? Buffer.from(bytes.subarray(-MAX_HELD_BYTES))
      : Buffer.concat([this.tail, bytes]).subarray(-MAX_HELD_BYTES);
    return text;
  }

  end(): string {
    const text = this.accept(this.pendingHigh + (this.decoder.end() ?? ""), this.byteReader(Buffer.alloc(0)), true);
    if (this.isUtf16() && this.received % 2 === 1) {
      throw this.defect(
        "SOURCE_FILE_NOT_UTF16",
        `the file is not valid ${LABEL[this.encoding]}: it has an odd number of bytes, so its last character is cut; `
        + "check the file's encoding or whether it was truncated",
        this.bomLength + this.received - 1,
        this.newlines + 1,
        this.tail.at(-1),
      );
    }
    return text;
  }

  /** Reads the byte at a file offset, among the tail and the chunk being decoded. */
  private byteReader(chunk: Buffer): ByteAt {
    const chunkStart = this.bomLength + this.received;
    const tail = this.tail;
    return (offset) => (offset >= chunkStart ? chunk[offset - chunkStart] : tail[offset - chunkStart + tail.length]);
  }

  private accept(text: string, byteAt: ByteAt, last: boolean): string {
    this.pendingHigh = "";
    if (!last && isHighSurrogate(text.charCodeAt(text.length - 1))) {
      this.pendingHigh = text.slice(-1);
      text = text.slice(0, -1);
    }
    const at = this.findDefect(text, byteAt);
    if (at !== -1) {
      const offset = this.emitted + this.byteLength(text.slice(0, at));
      const line = this.newlines + countNewlines(text.slice(0, at)) + 1;
      throw this.defectError(offset, line, byteAt(offset));
    }
    this.emitted += this.byteLength(text);
    this.newlines += countNewlines(text);
    return text;
  }

  /** The index in `text` of the first character that stands for bytes the decoder could not decode. */
  private findDefect(text: string, byteAt: ByteAt): number {
    if (this.isUtf16()) return text.isWellFormed() ? -1 : firstLoneSurrogate(text);
    for (let i = text.indexOf("\uFFFD"); i !== -1; i = text.indexOf("\uFFFD", i + 1)) {
      if (this.encoding !== "utf8") return i;
      // A U+FFFD written in the file as EF BF BD is data, not a decoding failure.
      const at = this.emitted + this.byteLength(text.slice(0, i));
      if (byteAt(at) !== 0xef || byteAt(at + 1) !== 0xbf || byteAt(at + 2) !== 0xbd) return i;
    }
    return -1;
  }

  private defectError(offset: number, line: number, byte: number | undefined): FatalError {
    const where = `byte ${hex(byte)} at offset ${offset}, line ${line}`;
    switch (this.encoding) {
      case "utf8":
        return this.defect(
          "SOURCE_FILE_NOT_UTF8",
          `the file is not valid UTF-8 (${where}${this.guessed ? "; it has no byte order mark, so it was read as UTF-8" : ""}): `
          + "set encoding: windows1252 (or latin1) in the job",
          offset,
          line,
          byte,
        );
      case "utf16le":
      case "utf16be":
        return this.defect(
          "SOURCE_FILE_NOT_UTF16",
          `the file is not valid ${LABEL[this.encoding]} (an unpaired surrogate at offset ${offset}, line ${line}): check the file's encoding`,
          offset,
          line,
          byte,
        );
      default:
        return this.defect(
          "SOURCE_FILE_BAD_BYTE",
          `the file is not valid ${LABEL[this.encoding]} (${where} has no character in ${LABEL[this.encoding]}): `
          + "check the file's encoding; latin1 accepts every byte",
          offset,
          line,
          byte,
        );
    }
  }

  private defect(code: FatalCode, message: string, offset: number, line: number, byte: number | undefined): FatalError {
    return new FatalError(code, `${prefix(this.options)}${message}`, {
      details: { encoding: this.encoding, offset, line, ...(byte === undefined ? {} : { byte }) },
    });
  }

  private isUtf16(): boolean {
    return this.encoding === "utf16le" || this.encoding === "utf16be";
  }

  private byteLength(text: string): number {
    if (this.encoding === "utf8") return Buffer.byteLength(text, "utf8");
    return this.isUtf16() ? text.length * 2 : text.length;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function firstLoneSurrogate(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isHighSurrogate(c)) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      else return i;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return i;
    }
  }
  return -1;
}

function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

function hex(byte: number | undefined): string {
  return byte === undefined ? "?" : `0x${byte.toString(16).toUpperCase().padStart(2, "0")}`;
}
