/**
 * Run leases: one row per job being run, saying which process runs it. The holder takes it before the run,
 * renews it (heartbeat) while the run goes on, and deletes it when the run ends. A row past `expires_at`
 * was left by a process that stopped renewing it (killed, crashed, frozen): the next run may take it over.
 * Times are ISO 8601 UTC text from the caller's clock, compared as text (as everywhere in the store).
 * The policy (how long a lease lasts, what a refused run does) is the runner's: src/runner/run-lease.ts.
 */
import type { Db } from "./store.ts";

/** Who holds a lease: an id of its own (one per run), and the process and host it runs in. */
export interface LeaseHolder {
  holder: string;
  pid: number;
  host: string;
}

export interface RunLease extends LeaseHolder {
  job: string;
  acquired_at: string;
  heartbeat_at: string;
  expires_at: string;
}

export type LeaseAttempt =
  /** Taken; `tookOver` is the expired lease it replaced, if there was one. */
  | { acquired: true; lease: RunLease; tookOver?: RunLease }
  /** Held by another, unexpired (or expired, when `mayTakeOver` said no). */
  | { acquired: false; lease: RunLease };

export async function getLease(db: Db, job: string): Promise<RunLease | undefined> {
  const row = (await db("run_leases").where({ job }).first()) as RunLease | undefined;
  return row ? { ...row, pid: Number(row.pid) } : undefined;
}

const expiresAt = (now: Date, expiryMs: number) => new Date(now.valueOf() + expiryMs).toISOString();

/**
 * Takes the job's lease for `holder`, unless another holds it and it has not expired at `now`, or it has
 * and `mayTakeOver` refuses. Of several processes trying at once, exactly one gets it: the write is one
 * conditional upsert. A lease held by another is found by a read alone, so refusing writes nothing.
 */
export async function acquireLease(
  db: Db,
  job: string,
  holder: LeaseHolder,
  now: Date,
  expiryMs: number,
  mayTakeOver: (expired: RunLease) => boolean = () => true,
): Promise<LeaseAttempt> {
  const at = now.toISOString();
  for (;;) {
    const current = await getLease(db, job);
    if (current && current.holder !== holder.holder && (current.expires_at > at || !mayTakeOver(current))) {
      return { acquired: false, lease: current };
    }
    // Takes the row when there is none, when it expired, or when it is the holder's own; else changes nothing.
    await db.raw(
      `INSERT INTO run_leases (job, holder, pid, host, acquired_at, heartbeat_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, host = excluded.host,
         acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at
       WHERE run_leases.expires_at <= excluded.acquired_at OR run_leases.holder = excluded.holder`,
      [job, holder.holder, holder.pid, holder.host, at, at, expiresAt(now, expiryMs)],
    );
    const lease = await getLease(db, job);
    // Released by its holder between the write and the read: try again.
    if (!lease) continue;
    if (lease.holder !== holder.holder) return { acquired: false, lease };
    const tookOver = current && current.holder !== holder.holder ? current : undefined;
    return tookOver ? { acquired: true, lease, tookOver } : { acquired: true, lease };
  }
}

/** Renews the holder's lease until `now + expiryMs`; false when it is no longer the holder's (taken over). */
export async function renewLease(db: Db, job: string, holder: string, now: Date, expiryMs: number): Promise<boolean> {
  const changed = await db("run_leases")
    .where({ job, holder })
    .update({ heartbeat_at: now.toISOString(), expires_at: expiresAt(now, expiryMs) });
  return Number(changed) === 1;
}

/** Gives the lease up, if it is still the holder's. */
export async function releaseLease(db: Db, job: string, holder: string): Promise<void> {
  await db("run_leases").where({ job, holder }).delete();
}
