/**
 * Leases: one row per piece of work that one process at a time may do, by name (`run:<job>` for a job's run,
 * `deliver:<destination>` for delivery to a destination), saying which worker and process holds it. The
 * holder takes it before the work, renews it (heartbeat) while the work goes on, and deletes it when the
 * work ends. A row past `expires_at` was left by a process that stopped renewing it (killed, crashed,
 * frozen): the next taker may take it over. Times are ISO 8601 UTC text from the caller's clock, compared as
 * text (as everywhere in the store). The policy (heartbeats, waiting, taking over) is src/cluster/lease.ts.
 */
import type { Db } from "./store.ts";

/** Who holds a lease: an id of its own (one per holding), the worker, and the process and host it runs in. */
export interface LeaseHolder {
  holder: string;
  /** The worker's id: `ferry serve --worker-id`, else `<host>:<pid>`. */
  worker: string;
  pid: number;
  host: string;
}

export interface Lease extends LeaseHolder {
  name: string;
  acquired_at: string;
  heartbeat_at: string;
  expires_at: string;
}

export type LeaseAttempt =
  /** Taken; `tookOver` is the expired lease it replaced, if there was one. */
  | { acquired: true; lease: Lease; tookOver?: Lease }
  /** Held by another, unexpired (or expired, when `mayTakeOver` said no). */
  | { acquired: false; lease: Lease };

export async function getLease(db: Db, name: string): Promise<Lease | undefined> {
  const row = (await db("leases").where({ name }).first()) as Lease | undefined;
  return row ? { ...row, pid: Number(row.pid) } : undefined;
}

/** Every lease held now (expired ones included), by name. */
export async function listLeases(db: Db): Promise<Lease[]> {
  const rows = (await db("leases").orderBy("name")) as Lease[];
  return rows.map((row) => ({ ...row, pid: Number(row.pid) }));
}

const expiresAt = (now: Date, expiryMs: number) => new Date(now.valueOf() + expiryMs).toISOString();

/**
 * Takes the lease `name` for `holder`, unless another holds it and it has not expired at `now`, or it has
 * and `mayTakeOver` refuses. Of several processes trying at once, exactly one gets it: the write is one
 * conditional upsert. A lease held by another is found by a read alone, so refusing writes nothing.
 */
export async function acquireLease(
  db: Db,
  name: string,
  holder: LeaseHolder,
  now: Date,
  expiryMs: number,
  mayTakeOver: (expired: Lease) => boolean = () => true,
): Promise<LeaseAttempt> {
  const at = now.toISOString();
  for (;;) {
    const current = await getLease(db, name);
    if (current && current.holder !== holder.holder && (current.expires_at > at || !mayTakeOver(current))) {
      return { acquired: false, lease: current };
    }
    // Takes the row when there is none, when it expired, or when it is the holder's own; else changes nothing.
    await db.raw(
      `INSERT INTO leases (name, holder, worker, pid, host, acquired_at, heartbeat_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, worker = excluded.worker, pid = excluded.pid,
         host = excluded.host, acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at,
         expires_at = excluded.expires_at
       WHERE leases.expires_at <= excluded.acquired_at OR leases.holder = excluded.holder`,
      [name, holder.holder, holder.worker, holder.pid, holder.host, at, at, expiresAt(now, expiryMs)],
    );
    const lease = await getLease(db, name);
    // Released by its holder between the write and the read: try again.
    if (!lease) continue;
    if (lease.holder !== holder.holder) return { acquired: false, lease };
    const tookOver = current && current.holder !== holder.holder ? current : undefined;
    return tookOver ? { acquired: true, lease, tookOver } : { acquired: true, lease };
  }
}

/** Renews the holder's lease until `now + expiryMs`; false when it is no longer the holder's (taken over). */
export async function renewLease(db: Db, name: string, holder: string, now: Date, expiryMs: number): Promise<boolean> {
  const changed = await db("leases")
    .where({ name, holder })
    .update({ heartbeat_at: now.toISOString(), expires_at: expiresAt(now, expiryMs) });
  return Number(changed) === 1;
}

/** Gives the lease up, if it is still the holder's. */
export async function releaseLease(db: Db, name: string, holder: string): Promise<void> {
  await db("leases").where({ name, holder }).delete();
}
