/**
 * Console sessions and the login attempts that throttle them. A session's `id` is the SHA-256 (hex) of the
 * cookie value its browser holds, never the value itself, so that whoever reads the state store cannot take a
 * session over. Times are ISO 8601 UTC text from the caller's clock, compared as text. The policy (expiry,
 * throttling) is src/console/auth/identity.ts.
 */
import type { Db } from "./store.ts";
import type { UserRow } from "./users.repo.ts";

export interface SessionRow {
  /** SHA-256 of the cookie value, hex. */
  id: string;
  user_id: number;
  csrf_token: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
}

export async function insertSession(db: Db, session: SessionRow): Promise<void> {
  await db("sessions").insert(session);
}

/** A session with its user's row, by the digest of its cookie value. */
export async function getSession(db: Db, digest: string): Promise<{ session: SessionRow; user: UserRow } | undefined> {
  const row = (await db("sessions")
    .join("users", "users.id", "sessions.user_id")
    .where("sessions.id", digest)
    .first(
      "sessions.id as id",
      "sessions.user_id as user_id",
      "sessions.csrf_token as csrf_token",
      "sessions.created_at as created_at",
      "sessions.last_seen_at as last_seen_at",
      "sessions.expires_at as expires_at",
      "users.name as user_name",
      "users.role as user_role",
      "users.password_hash as user_password_hash",
      "users.disabled_at as user_disabled_at",
      "users.created_at as user_created_at",
      "users.updated_at as user_updated_at",
    )) as Record<string, string | number | null> | undefined;
  if (!row) return undefined;
  const userId = Number(row.user_id);
  return {
    session: {
      id: String(row.id),
      user_id: userId,
      csrf_token: String(row.csrf_token),
      created_at: String(row.created_at),
      last_seen_at: String(row.last_seen_at),
      expires_at: String(row.expires_at),
    },
    user: {
      id: userId,
      name: String(row.user_name),
      role: String(row.user_role),
      password_hash: String(row.user_password_hash),
      disabled_at: row.user_disabled_at === null ? null : String(row.user_disabled_at),
      created_at: String(row.user_created_at),
      updated_at: String(row.user_updated_at),
    },
  };
}

export async function touchSession(db: Db, digest: string, lastSeenAt: string, expiresAt: string): Promise<void> {
  await db("sessions").where({ id: digest }).update({ last_seen_at: lastSeenAt, expires_at: expiresAt });
}

export async function deleteSession(db: Db, digest: string): Promise<void> {
  await db("sessions").where({ id: digest }).delete();
}

/** Ends every session of a user, but the one whose digest is `except`; how many ended. */
export async function deleteSessionsOfUser(db: Db, userId: number, except?: string): Promise<number> {
  const q = db("sessions").where({ user_id: userId });
  if (except !== undefined) q.whereNot({ id: except });
  return Number(await q.delete());
}

/** Forgets sessions that expired before `at`. */
export async function deleteExpiredSessions(db: Db, at: string): Promise<void> {
  await db("sessions").where("expires_at", "<=", at).delete();
}

export async function countSessionsOfUser(db: Db, userId: number): Promise<number> {
  const row = (await db("sessions").where({ user_id: userId }).count({ n: "*" }).first()) as { n: number | string };
  return Number(row.n);
}

/**
 * A login attempt's outcome: `pending` while its password is being checked (counted as a failure by
 * attempts made meanwhile, so that a burst of parallel attempts cannot all pass the throttle), then `ok`,
 * `refused`, or `throttled` (turned away unchecked).
 */
export type AttemptOutcome = "pending" | "ok" | "refused" | "throttled";

export interface AttemptRow {
  id: number;
  name: string;
  at: string;
  outcome: AttemptOutcome;
}

/** Records an attempt as pending; its id. */
export async function insertAttempt(db: Db, name: string, at: string): Promise<number> {
  const [row] = await db("login_attempts").insert({ name, at, outcome: "pending" }, ["id"]);
  return Number(typeof row === "object" ? (row as { id: number }).id : row);
}

export async function settleAttempt(db: Db, id: number, outcome: Exclude<AttemptOutcome, "pending">): Promise<void> {
  await db("login_attempts").where({ id }).update({ outcome });
}

/** The attempts for `name` recorded before attempt `beforeId`, later than `since`, oldest first. */
export async function attemptsBefore(db: Db, name: string, beforeId: number, since: string): Promise<AttemptRow[]> {
  const rows = (await db("login_attempts")
    .where({ name })
    .andWhere("at", ">", since)
    .andWhere("id", "<", beforeId)
    .orderBy("id")) as AttemptRow[];
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/** Forgets attempts made before `at`. */
export async function deleteAttemptsBefore(db: Db, at: string): Promise<void> {
  await db("login_attempts").where("at", "<", at).delete();
}
