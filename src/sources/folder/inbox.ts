/**
 * A watched folder's life cycle. Files are dropped into the root; one that is complete (its size and time
 * stable, or its `.done` marker present) is moved atomically into processing/, read, and moved into
 * archive/<date>/ or failed/ with `<name>.report.csv` beside it. Only regular files directly in the root
 * are taken: a symbolic link, a FIFO or anything else is moved to failed/ unopened (a link is moved, never
 * followed), as is a file over the size limit.
 */
import { type Dirent, existsSync, statSync } from "node:fs";
import { link, lstat, mkdir, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ConfigError } from "../../errors.ts";
import { freeName, settleFile } from "../../files/lifecycle.ts";
import { writeOneLineReport } from "../../files/report.ts";

export const SUBFOLDERS = ["processing", "archive", "failed"] as const;

/**
 * Names Ferry never takes: its own folders and reports, markers, and files still being written by tools
 * that write under a temporary name.
 */
export function ignored(name: string): boolean {
  return (
    (SUBFOLDERS as readonly string[]).includes(name) ||
    name.startsWith(".") ||
    name.endsWith(".done") ||
    name.endsWith(".report.csv") ||
    /\.(part|partial|tmp|crdownload)$/i.test(name) ||
    name.endsWith("~")
  );
}

export interface Candidate {
  name: string;
  path: string;
  size: number;
  mtimeMs: number;
}

export interface Refusal {
  name: string;
  path: string;
  reason: string;
}

/** Throws SOURCE_FOLDER_MISSING unless the root is a folder. */
export function checkRoot(root: string): void {
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new ConfigError("SOURCE_FOLDER_MISSING", `the folder ${root} does not exist: create it, or fix source.path`, {
      file: "job",
      path: "source.path",
    });
  }
}

export async function ensureFolders(root: string): Promise<void> {
  for (const sub of SUBFOLDERS) await mkdir(path.join(root, sub), { recursive: true });
}

/** What is in the root now: files that may be taken, and entries to refuse. */
export async function scan(root: string, pattern: RegExp, maxBytes: number): Promise<{ files: Candidate[]; refused: Refusal[] }> {
  const entries: Dirent[] = await readdir(root, { withFileTypes: true });
  const files: Candidate[] = [];
  const refused: Refusal[] = [];
  for (const entry of entries) {
    const name = entry.name;
    if (ignored(name) || !pattern.test(name)) continue;
    const full = path.join(root, name);
    // lstat: a link is judged as a link, never by what it points to.
    const s = await lstat(full).catch(() => null);
    if (!s) continue;
    if (s.isSymbolicLink()) refused.push({ name, path: full, reason: "it is a symbolic link; Ferry takes only regular files and never follows links" });
    else if (s.isDirectory()) continue;
    else if (!s.isFile()) refused.push({ name, path: full, reason: "it is not a regular file (a FIFO, socket or device); Ferry takes only regular files" });
    else if (s.size > maxBytes) refused.push({ name, path: full, reason: `it holds ${s.size} bytes, more than max_file_bytes (${maxBytes})` });
    else files.push({ name, path: full, size: s.size, mtimeMs: s.mtimeMs });
  }
  files.sort((a, b) => a.mtimeMs - b.mtimeMs || a.name.localeCompare(b.name));
  return { files, refused };
}

/** The candidates whose size and time did not change over `stableMs` (one wait for all of them). */
export async function stableOnes(files: Candidate[], stableMs: number, signal: AbortSignal): Promise<Candidate[]> {
  if (files.length === 0) return [];
  await sleep(stableMs, undefined, { signal });
  const out: Candidate[] = [];
  for (const f of files) {
    const s = await lstat(f.path).catch(() => null);
    if (s?.isFile() && s.size === f.size && s.mtimeMs === f.mtimeMs) out.push(f);
  }
  return out;
}

/** The candidates whose `.done` marker exists. */
export async function markedOnes(files: Candidate[]): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (const f of files) if (await stat(`${f.path}.done`).then(() => true, () => false)) out.push(f);
  return out;
}

/** Moves a root entry into processing/ (atomic: same file system); returns its new path. */
export async function take(root: string, file: Candidate, marker: boolean): Promise<string> {
  const folder = path.join(root, "processing");
  const name = await freeName(folder, file.name);
  const target = path.join(folder, name);
  await rename(file.path, target);
  if (marker) await rm(`${file.path}.done`, { force: true });
  return target;
}

/**
 * Moves a file taken into processing/ back into the root, where it is taken again once complete: under
 * its name, or a free one when a file of that name was dropped since. A hard link makes the new name,
 * so that a file dropped between the choice of the name and the move is never replaced (a rename
 * would replace it); where the file system has no hard links, a rename does.
 */
export async function returnToRoot(root: string, file: string, name: string): Promise<string> {
  for (;;) {
    const target = path.join(root, await freeName(root, name));
    try {
      await link(file, target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EEXIST") continue;
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw e;
      await rename(file, target);
      return target;
    }
    await unlink(file);
    return target;
  }
}

/** An entry refused unopened: moved (a link as a link) to failed/, with a report giving the reason. */
export async function refuse(root: string, r: Refusal, day: string): Promise<string> {
  const report = path.join(root, "processing", `${r.name}.refused.report.csv`);
  await writeOneLineReport(report, "failed", r.reason);
  return settleFile(root, r.path, report, "failed", day);
}
