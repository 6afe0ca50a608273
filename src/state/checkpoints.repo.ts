/**
 * Each cursor job's checkpoint: the position after the last committed batch, written in that batch's
 * transaction, where the next run resumes.
 */
import type { CursorPosition } from "../sources/source.ts";
import type { Db } from "./store.ts";

export async function loadCheckpoint(db: Db, job: string): Promise<CursorPosition | null> {
  const row = (await db("checkpoints").where({ job }).first()) as { position: string } | undefined;
  return row ? (JSON.parse(row.position) as CursorPosition) : null;
}

export async function saveCheckpoint(
  db: Db,
  job: string,
  runId: number,
  at: string,
  position: CursorPosition,
) {
  await db("checkpoints")
    .insert({ job, position: JSON.stringify(position), run_id: runId, updated_at: at })
    .onConflict("job")
    .merge();
}
