/**
 * The file ledger: every file a folder or SFTP job took, with its content hash and what became of it.
 * A file's content is recognised by its hash, whatever its name: what that means (a duplicate, or a full
 * list applied again) is `fileVerdict`'s to say, from `fileHistory`. An SFTP job also asks by (name, size,
 * mtime) before downloading.
 */
import type { AppliedFile, FileHistory } from "../files/each-file.ts";
import type { Db } from "./store.ts";

export type FileOutcome = "applied" | "partial" | "failed" | "duplicate";

export interface FileEntry {
  job: string;
  name: string;
  hash: string;
  size: number;
  mtime?: string | null;
  runId?: number | null;
  outcome: FileOutcome;
  reason?: string | null;
  processedAt: string;
}

export async function recordFile(db: Db, e: FileEntry): Promise<void> {
  await db("files").insert({
    job: e.job,
    name: e.name,
    hash: e.hash,
    size: e.size,
    mtime: e.mtime ?? null,
    run_id: e.runId ?? null,
    outcome: e.outcome,
    reason: e.reason ?? null,
    processed_at: e.processedAt,
  });
}

const APPLIED = ["applied", "partial"];

type AppliedRow = { name: string; hash: string; run_id: number | null; processed_at: string } | undefined;

const appliedFile = (row: AppliedRow): AppliedFile | null =>
  row ? { name: row.name, hash: row.hash, runId: row.run_id, processedAt: row.processed_at } : null;

/**
 * The first file of this job that applied this content, and the last file the job applied (a failed file
 * applied nothing, a duplicate nothing more): in the order they were applied.
 */
export async function fileHistory(db: Db, job: string, hash: string): Promise<FileHistory> {
  const columns = ["name", "hash", "run_id", "processed_at"];
  const first = (await db("files").where({ job, hash }).whereIn("outcome", APPLIED).orderBy("id").first(columns)) as AppliedRow;
  const last = (await db("files").where({ job }).whereIn("outcome", APPLIED).orderBy("id", "desc").first(columns)) as AppliedRow;
  return { firstWithHash: appliedFile(first), lastApplied: appliedFile(last) };
}

/**
 * Whether a remote file with this name, size and modification time was already taken (SFTP), whatever
 * became of it: a file that failed is not downloaded again until it changes.
 */
export async function seenRemote(db: Db, job: string, name: string, size: number, mtime: string): Promise<boolean> {
  const row = await db("files").where({ job, name, size, mtime }).first("id");
  return row !== undefined;
}

export async function listFiles(db: Db, job?: string, limit = 50): Promise<FileEntry[]> {
  const q = db("files").select("*").orderBy("id", "desc").limit(limit);
  if (job) q.where({ job });
  const rows = (await q) as Record<string, unknown>[];
  return rows.map((r) => ({
    job: String(r.job),
    name: String(r.name),
    hash: String(r.hash),
    size: Number(r.size),
    mtime: (r.mtime as string | null) ?? null,
    runId: (r.run_id as number | null) ?? null,
    outcome: r.outcome as FileOutcome,
    reason: (r.reason as string | null) ?? null,
    processedAt: String(r.processed_at),
  }));
}
