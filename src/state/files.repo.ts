/**
 * The file ledger: every file a folder or SFTP job took, with its content hash and what became of it.
 * A file's content is recognised by its hash, whatever its name: what that means (a duplicate, or a full
 * list applied again) is `fileVerdict`'s to say, from `fileHistory`. An SFTP job also asks by (name, size,
 * mtime) before downloading (`seenRemote`), and records when its post-action took a file off the server.
 */
import type { AppliedFile, FileHistory } from "../files/each-file.ts";
import type { Db } from "./store.ts";

/** `returned`: the file changed while it was read and was put back, nothing of it applied. */
export type FileOutcome = "applied" | "partial" | "failed" | "duplicate" | "returned";

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
  /** SFTP: when the post-action moved or deleted the file on the server (null: it is still there). */
  removedAt?: string | null;
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
    removed_at: e.removedAt ?? null,
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
 * Whether the remote file with this name, size and modification time is the one taken last under this
 * name (SFTP), whatever became of it, and is still on the server: then it is not downloaded again (a file
 * that failed is not taken again until it changes). A file listed after its post-action moved or deleted
 * it, or after another file of that name was taken, is a new upload, even with the same size and time.
 * A file put back (it changed while it was read) was not taken.
 */
export async function seenRemote(db: Db, job: string, name: string, size: number, mtime: string): Promise<boolean> {
  const rows = db("files").where({ job, name }).whereNot({ outcome: "returned" });
  const row = (await rows.orderBy("id", "desc").first("size", "mtime", "removed_at")) as
    | { size: number | string; mtime: string | null; removed_at: string | null }
    | undefined;
  return row !== undefined && Number(row.size) === size && row.mtime === mtime && row.removed_at === null;
}

/** Records that the post-action took the file last taken under this name, size and time off the server. */
export async function markRemoved(db: Db, job: string, name: string, size: number, mtime: string, at: string): Promise<void> {
  const row = (await db("files").where({ job, name, size, mtime }).orderBy("id", "desc").first("id")) as { id: number } | undefined;
  if (row) await db("files").where({ id: row.id }).update({ removed_at: at });
}

export async function listFiles(db: Db, job?: string, limit = 50): Promise<FileEntry[]> {
  const q = db("files").select("*").orderBy("id", "desc").limit(limit);
  if (job) q.where({ job });
  return ((await q) as Record<string, unknown>[]).map(fromRow);
}

/** The files a run took (a folder job's file runs each have one). */
export async function filesOfRun(db: Db, runId: number): Promise<FileEntry[]> {
  return ((await db("files").where({ run_id: runId }).orderBy("id")) as Record<string, unknown>[]).map(fromRow);
}

function fromRow(r: Record<string, unknown>): FileEntry {
  return {
    job: String(r.job),
    name: String(r.name),
    hash: String(r.hash),
    size: Number(r.size),
    mtime: (r.mtime as string | null) ?? null,
    runId: (r.run_id as number | null) ?? null,
    outcome: r.outcome as FileOutcome,
    reason: (r.reason as string | null) ?? null,
    processedAt: String(r.processed_at),
    removedAt: (r.removed_at as string | null) ?? null,
  };
}

/**
 * Failed files with ledger ids in (`afterId`, `upTo`], oldest first, with their ids; at most `limit` of them
 * (`more`: there may be others after the last).
 */
export async function failedFilesAfter(
  db: Db,
  afterId: number,
  upTo: number,
  limit = 500,
): Promise<{ files: (FileEntry & { id: number })[]; more: boolean }> {
  const rows = (await db("files")
    .where("id", ">", afterId)
    .where("id", "<=", upTo)
    .where({ outcome: "failed" })
    .orderBy("id")
    .limit(limit)) as Record<string, unknown>[];
  const files = rows.map((r): FileEntry & { id: number } => ({
    id: Number(r.id),
    job: String(r.job),
    name: String(r.name),
    hash: String(r.hash),
    size: Number(r.size),
    runId: r.run_id === null ? null : Number(r.run_id),
    outcome: "failed",
    reason: (r.reason as string | null) ?? null,
    processedAt: String(r.processed_at),
  }));
  return { files, more: rows.length === limit };
}

/** The newest ledger id (0 for none). */
export async function lastFileId(db: Db): Promise<number> {
  const row = (await db("files").max({ id: "id" }).first()) as { id: number | string | null } | undefined;
  return Number(row?.id ?? 0);
}
