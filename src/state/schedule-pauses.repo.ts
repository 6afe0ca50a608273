/** Paused schedules: a paused job's schedule occurrences and folder arrivals start no run until it is resumed. */
import type { Db } from "./store.ts";

export interface SchedulePause {
  job: string;
  paused_by: string;
  paused_at: string;
}

export async function getPause(db: Db, job: string): Promise<SchedulePause | undefined> {
  return (await db("schedule_pauses").where({ job }).first()) as SchedulePause | undefined;
}

export async function listPauses(db: Db): Promise<SchedulePause[]> {
  return (await db("schedule_pauses").orderBy("job")) as SchedulePause[];
}

/** Pauses the job's schedule; false when it already was. */
export async function pause(db: Db, p: SchedulePause): Promise<boolean> {
  if (await getPause(db, p.job)) return false;
  await db("schedule_pauses").insert(p).onConflict("job").ignore();
  return true;
}

/** Resumes it; false when it was not paused. */
export async function resume(db: Db, job: string): Promise<boolean> {
  return Number(await db("schedule_pauses").where({ job }).delete()) > 0;
}
