import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type SplitLinesOptions, type TextLine, splitLines } from "./lines.ts";

async function lines(parts: string[], options: SplitLinesOptions = {}): Promise<TextLine[]> {
  async function* source(): AsyncGenerator<string> {
    yield* parts;
  }
  const out: TextLine[] = [];
  for await (const l of splitLines(source(), options)) out.push(l);
  return out;
}

/** Every way of cutting `text` into three chunks gives the same lines. */
async function linesEverySplit(text: string): Promise<TextLine[]> {
  const first = await lines([text]);
  for (let i = 0; i <= text.length; i++) {
    for (let j = i; j <= text.length; j++) {
      assert.deepEqual(await lines([text.slice(0, i), text.slice(i, j), text.slice(j)]), first, `cut at ${i} and ${j}`);
    }
  }
  return first;
}

describe("splitLines", () => {
  it("splits at LF and CRLF, with a last line without newline, wherever the chunks break", async () => {
    assert.deepEqual(await linesEverySplit("a\nbb\r\nccc\r\nd"), [
      { text: "a", line: 1 },
      { text: "bb", line: 2 },
      { text: "ccc", line: 3 },
      { text: "d", line: 4 },
    ]);
  });

  it("skips empty lines but keeps counting them", async () => {
    assert.deepEqual(await linesEverySplit("\r\na\r\n\r\n\r\nb\r\n\r\n"), [
      { text: "a", line: 2 },
      { text: "b", line: 5 },
    ]);
    assert.deepEqual(await lines([]), []);
    assert.deepEqual(await lines(["", "\n", ""]), []);
  });

  it("keeps a line of spaces and a lone CR inside a line", async () => {
    assert.deepEqual(await lines(["  \nx\ry\n"]), [
      { text: "  ", line: 1 },
      { text: "x\ry", line: 2 },
    ]);
  });

  it("drops a DOS end-of-file mark ending the file", async () => {
    assert.deepEqual(await lines(["a\r\n\x1A"]), [{ text: "a", line: 1 }]);
    assert.deepEqual(await lines(["a\r\nb\x1A"]), [
      { text: "a", line: 1 },
      { text: "b", line: 2 },
    ]);
  });

  it("fails on a line longer than the limit, even before its end arrives", async () => {
    await assert.rejects(lines(["ok\n", "x".repeat(6)], { maxLineLength: 5, name: "in/a.txt" }), {
      code: "SOURCE_FILE_LINE_TOO_LONG",
      message:
        "in/a.txt: line 2 is longer than 5 characters: check that this is the right file and format, and that its lines end with a newline",
    });
    await assert.rejects(lines(["123456\n"], { maxLineLength: 5 }), { code: "SOURCE_FILE_LINE_TOO_LONG" });
    assert.deepEqual(await lines(["12345\r\n"], { maxLineLength: 5 }), [{ text: "12345", line: 1 }]);
  });
});
