/**
 * Reading a password for `ferry users`: from standard input when it is not a terminal (`printf '%s\n' "$PW" |
 * ferry users add ...`, or `--password-stdin`), else asked for twice on the terminal without echo.
 */
import os from "node:os";
import { ConfigError } from "../errors.ts";

/** The first line of standard input, without its line ending. */
async function readStdinLine(): Promise<string> {
  let text = "";
  for await (const chunk of process.stdin) {
    text += typeof chunk === "string" ? chunk : (chunk as Buffer).toString("utf8");
    if (text.includes("\n")) break;
  }
  return text.split(/\r?\n/)[0]!;
}

/** What typing `chunk` after `text` gives: the new text, and whether Enter ended it or Ctrl-C/Ctrl-D cancelled. */
export function typeKeys(text: string, chunk: string): { text: string; end?: "enter" | "cancel" } {
  let out = text;
  // Escape sequences (arrows, function keys) move nothing in a hidden field: dropped.
  const keys = chunk.replace(/\x1b\[[0-9;]*[A-Za-z~]|\x1bO.|\x1b./g, "");
  for (const ch of keys) {
    if (ch === "\r" || ch === "\n") return { text: out, end: "enter" };
    if (ch === "\u0003" || (ch === "\u0004" && out === "")) return { text: out, end: "cancel" };
    if (ch === "\u007f" || ch === "\b") out = [...out].slice(0, -1).join("");
    else if (ch === "\u0015") out = "";
    else if (ch >= " ") out += ch;
  }
  return { text: out };
}

/** Asks on the terminal, which is in raw mode (no echo): the line typed after the question. */
function promptHidden(question: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(question);
  let text = "";
  return new Promise((resolve, reject) => {
    const onData = (chunk: string) => {
      const step = typeKeys(text, chunk);
      text = step.text;
      if (step.end === undefined) return;
      input.off("data", onData);
      process.stderr.write("\n");
      if (step.end === "enter") resolve(text);
      else reject(new ConfigError("PASSWORD_MISSING", "cancelled: no password given"));
    };
    input.on("data", onData);
  });
}

/**
 * Asks for a password twice on the terminal. Raw mode (no echo) holds from before the first question to
 * after the second answer, so that nothing typed as soon as a question shows is echoed.
 */
async function promptTwice(what: string): Promise<string> {
  const input = process.stdin;
  input.setRawMode(true);
  input.setEncoding("utf8");
  input.resume();
  try {
    const first = await promptHidden(`New password for ${what}: `);
    const second = await promptHidden("Again: ");
    if (first !== second) throw new ConfigError("PASSWORD_MISMATCH", "the two passwords differ: nothing was changed; run the command again");
    return first;
  } finally {
    input.setRawMode(false);
    input.pause();
  }
}

/** A new password: from standard input when told to or when it is not a terminal, else typed twice. */
export async function readNewPassword(options: { stdin?: boolean; what: string }): Promise<string> {
  if (options.stdin || !process.stdin.isTTY) {
    const password = await readStdinLine();
    if (password === "") {
      throw new ConfigError(
        "PASSWORD_MISSING",
        `no password on standard input for ${options.what}: pipe one in (printf '%s\\n' "$PASSWORD" | ferry users ...), or run the command in a terminal to be asked`,
      );
    }
    return password;
  }
  return promptTwice(options.what);
}

/** Who runs this command, for the audit log: `cli:<OS user>`. */
export function cliActor(): string {
  let name: string | undefined;
  try {
    name = os.userInfo().username;
  } catch {
    // No password-file entry for this uid (some containers): the environment's word for it.
  }
  return `cli:${name || process.env.USER || process.env.LOGNAME || "unknown"}`;
}
