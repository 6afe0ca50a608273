import { FatalError } from "../errors.ts";

export interface TextLine {
  text: string;
  /** 1-based, counting every line of the file, blank ones included. */
  line: number;
}

export interface SplitLinesOptions {
  /** Names the file in error messages. */
  name?: string;
  /** A longer line fails the file: it is the wrong file, the wrong format or a missing newline. */
  maxLineLength?: number;
}

export const DEFAULT_MAX_LINE_LENGTH = 1_048_576;

/**
 * Splits decoded text into lines at `\n` or `\r\n`, wherever the chunks break (between `\r` and `\n`
 * included); a last line without a newline is a line. A lone `\r` is not a line break (no legacy source
 * of ours writes classic Mac files, and a stray `\r` inside a record must not split it).
 *
 * Empty lines are skipped but counted, so line numbers stay those an editor shows: in a record file an
 * empty line is almost always a newline too many at the end, not a record. A DOS end-of-file mark
 * (Ctrl-Z, 0x1A) ending the last line is dropped.
 */
export async function* splitLines(text: AsyncIterable<string>, options: SplitLinesOptions = {}): AsyncGenerator<TextLine> {
  const max = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
  let pending = "";
  let line = 0;
  for await (const chunk of text) {
    let start = 0;
    for (let nl = chunk.indexOf("\n"); nl !== -1; nl = chunk.indexOf("\n", start)) {
      const raw = pending + chunk.slice(start, nl);
      pending = "";
      start = nl + 1;
      line++;
      const content = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (content.length > max) throw tooLong(line, max, options);
      if (content !== "") yield { text: content, line };
    }
    pending += chunk.slice(start);
    if (pending.length > max + 1) throw tooLong(line + 1, max, options);
  }
  let last = pending.endsWith("\x1A") ? pending.slice(0, -1) : pending;
  if (last.endsWith("\r")) last = last.slice(0, -1);
  if (last !== "") {
    if (last.length > max) throw tooLong(line + 1, max, options);
    yield { text: last, line: line + 1 };
  }
}

function tooLong(line: number, max: number, options: SplitLinesOptions): FatalError {
  return new FatalError(
    "SOURCE_FILE_LINE_TOO_LONG",
    `${options.name ? `${options.name}: ` : ""}line ${line} is longer than ${max} characters: `
    + "check that this is the right file and format, and that its lines end with a newline",
    { details: { line, maxLineLength: max } },
  );
}
