import assert from "node:assert/strict";
import { test } from "node:test";
import { typeKeys } from "./password-input.ts";

test("typing into a hidden prompt: characters add, backspace and Ctrl-U delete, Enter ends, Ctrl-C cancels", () => {
  assert.deepEqual(typeKeys("", "secret"), { text: "secret" });
  assert.deepEqual(typeKeys("secret", "s\r"), { text: "secrets", end: "enter" });
  assert.deepEqual(typeKeys("", "abc\u007f\u007fd\n"), { text: "ad", end: "enter" });
  assert.deepEqual(typeKeys("café", "\b"), { text: "caf" });
  assert.deepEqual(typeKeys("oops", "\u0015new"), { text: "new" });
  assert.deepEqual(typeKeys("abc", "\u0003"), { text: "abc", end: "cancel" });
  assert.deepEqual(typeKeys("", "\u0004"), { text: "", end: "cancel" });
  assert.deepEqual(typeKeys("a", "\u0004"), { text: "a" }, "Ctrl-D ends only an empty answer");
  assert.deepEqual(typeKeys("a", "\x1b[D\x1b[Cb\x1bOA"), { text: "ab" }, "arrow keys move nothing");
  assert.deepEqual(typeKeys("", "pass\rrest"), { text: "pass", end: "enter" }, "what follows Enter is not the password");
});
