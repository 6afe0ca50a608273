/**
 * What every file source does with a file once it holds a local copy: names matched by a simple glob, the
 * content hashed, and the file moved with its report into archive/<day>/ or failed/ under a name that
 * never overwrites an earlier one.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, mkdir, rename } from "node:fs/promises";
import path from "node:path";

/** `*` and `?` only, matched against the whole name. */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".");
  return new RegExp(`^${body}$`);
}

/** A free name in `folder` for `name`: `name`, else `name (2)`, `name (3)`... before the extension. */
export async function freeName(folder: string, name: string): Promise<string> {
  const ext = path.extname(name);
  const base = name.slice(0, name.length - ext.length);
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? name : `${base} (${n})${ext}`;
    const taken = await lstat(path.join(folder, candidate)).then(() => true, () => false);
    const reportTaken = await lstat(path.join(folder, `${candidate}.report.csv`)).then(() => true, () => false);
    if (!taken && !reportTaken) return candidate;
  }
}

export async function sha256(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Moves a file (and its report, when there is one) into archive/<YYYY-MM-DD>/ or failed/. Returns where
 * the file went.
 */
export async function settleFile(
  root: string,
  file: string,
  report: string | null,
  where: "archive" | "failed",
  day: string,
): Promise<string> {
  const folder = where === "archive" ? path.join(root, "archive", day) : path.join(root, "failed");
  await mkdir(folder, { recursive: true });
  const name = await freeName(folder, path.basename(file));
  const target = path.join(folder, name);
  await rename(file, target);
  if (report) await rename(report, `${target}.report.csv`);
  return target;
}
