/**
 * Who is asking: the console's identity layer, as the HTTP layer calls it. A browser logs in with a name and
 * a password and gets a session (an opaque cookie value and a CSRF token); a script presents an API token.
 * Either way the answer is a User, whose role (src/console/auth/roles.ts) decides what they may do.
 *
 * Everything lives in the state store, so that several workers share sessions; times come from the caller
 * (`now`), as ISO 8601 UTC text in the store. Failed and throttled logins are counted in `login_attempts`;
 * a successful login and a logout are in the audit log, as is every change to users and tokens.
 */
import { appendAudit } from "../../state/audit.repo.ts";
import {
  attemptsBefore,
  deleteAttemptsBefore,
  deleteExpiredSessions,
  deleteSession,
  getSession,
  insertAttempt,
  insertSession,
  settleAttempt,
  touchSession,
} from "../../state/sessions.repo.ts";
import type { Db } from "../../state/store.ts";
import { getUserByName, type UserRow } from "../../state/users.repo.ts";
import { digest, looksLike, newCsrfToken, newSessionId } from "./credentials.ts";
import { hashPassword, PASSWORD_MAX_LENGTH, verifyPassword } from "./passwords.ts";
import { LOGIN_WINDOW_MS, throttleOf } from "./throttle.ts";
import { toUser, type User, userActor } from "./users.ts";

export type { Action, Role } from "./roles.ts";
export { ACTIONS, can, ROLES } from "./roles.ts";
export { LOGIN_FIRST_DELAY_MS, LOGIN_MAX_DELAY_MS, LOGIN_MAX_FAILURES, LOGIN_WINDOW_MS } from "./throttle.ts";
export { createToken, listTokens, revokeToken, type TokenInfo, type TokenStatus, tokenUser } from "./tokens.ts";
export { type Actor, addUser, disableUser, enableUser, listUsers, setPassword, type User, userActor } from "./users.ts";

/** A session ends after this long without a request... */
export const SESSION_IDLE_MS = 8 * 3_600_000;
/** ...and this long after its login, however busy. */
export const SESSION_MAX_AGE_MS = 7 * 24 * 3_600_000;
/** How often a session's `last_seen_at` (and so its idle expiry) is written at most: not on every request. */
export const SESSION_TOUCH_MS = 60_000;
/** How long login attempts are kept: long past the throttling window, for whoever looks into one. */
export const LOGIN_ATTEMPTS_KEPT_MS = 24 * 3_600_000;

export interface Session {
  user: User;
  /** The CSRF token the session's forms and unsafe requests must carry. */
  csrf: string;
  expires_at: string;
}

export type LogInResult =
  | { kind: "ok"; sessionId: string; session: Session }
  | { kind: "refused" }
  | { kind: "throttled"; retryAfterMs: number };

const iso = (ms: number) => new Date(ms).toISOString();

/** When a session seen at `seenMs` and begun at `createdAt` ends: idle expiry, within the absolute one. */
const expiryOf = (createdAt: string, seenMs: number) => iso(Math.min(seenMs + SESSION_IDLE_MS, Date.parse(createdAt) + SESSION_MAX_AGE_MS));

/**
 * A hash to check passwords against when the name is unknown, so that an unknown name takes as long to
 * refuse as a wrong password and does not give itself away.
 */
let decoy: Promise<string> | undefined;
const decoyHash = () => (decoy ??= hashPassword(newSessionId()));

/** Whether `password` opens `row`'s account; as long to answer for an unknown or disabled user. */
async function passwordOpens(row: UserRow | undefined, password: string): Promise<boolean> {
  if (password.length > PASSWORD_MAX_LENGTH * 4) return false;
  const matches = await verifyPassword(password, row?.password_hash ?? (await decoyHash()));
  return matches && row !== undefined && row.disabled_at === null;
}

/**
 * Checks a name and password and opens a session. Throttled: after 5 failed attempts for a name within 15
 * minutes, further attempts are turned away unchecked for a wait that grows with each failure
 * (src/console/auth/throttle.ts). Every attempt is recorded. A disabled user cannot log in; an unknown
 * name, a wrong password and a disabled user all get the same `refused`.
 */
export async function logIn(db: Db, name: string, password: string, now: Date): Promise<LogInResult> {
  const at = now.toISOString();
  // Names longer than a user's cannot log in; kept at that length in the record.
  const key = name.slice(0, 64);
  await deleteAttemptsBefore(db, iso(now.valueOf() - LOGIN_ATTEMPTS_KEPT_MS));
  const attempt = await insertAttempt(db, key, at);
  const throttle = throttleOf(await attemptsBefore(db, key, attempt, iso(now.valueOf() - LOGIN_WINDOW_MS)), now);
  if (throttle.throttled) {
    await settleAttempt(db, attempt, "throttled");
    return { kind: "throttled", retryAfterMs: throttle.retryAfterMs };
  }
  const row = name === key ? await getUserByName(db, name) : undefined;
  if (!(await passwordOpens(row, password)) || !row) {
    await settleAttempt(db, attempt, "refused");
    return { kind: "refused" };
  }
  const sessionId = newSessionId();
  const session: Session = { user: toUser(row), csrf: newCsrfToken(), expires_at: expiryOf(at, now.valueOf()) };
  await db.transaction(async (tx) => {
    await settleAttempt(tx, attempt, "ok");
    await deleteExpiredSessions(tx, at);
    await insertSession(tx, {
      id: digest(sessionId),
      user_id: row.id,
      csrf_token: session.csrf,
      created_at: at,
      last_seen_at: at,
      expires_at: session.expires_at,
    });
    await appendAudit(tx, { at, actor: userActor(row), action: "user.login", entity: "user", key: row.name });
  });
  return { kind: "ok", sessionId, session };
}

/**
 * The session of a cookie value at `now`, its expiry slid forward (idle 8 h, at most 7 days after login;
 * written at most once a minute). Null when the value is unknown, the session expired (it is then
 * forgotten) or its user is disabled.
 */
export async function sessionOf(db: Db, sessionId: string, now: Date): Promise<Session | null> {
  if (!looksLike(sessionId)) return null;
  const id = digest(sessionId);
  const found = await getSession(db, id);
  if (!found) return null;
  const { session, user } = found;
  const at = now.toISOString();
  if (session.expires_at <= at || user.disabled_at !== null) {
    await deleteSession(db, id);
    return null;
  }
  let expiresAt = session.expires_at;
  if (now.valueOf() - Date.parse(session.last_seen_at) >= SESSION_TOUCH_MS) {
    expiresAt = expiryOf(session.created_at, now.valueOf());
    await touchSession(db, id, at, expiresAt);
  }
  return { user: toUser(user), csrf: session.csrf_token, expires_at: expiresAt };
}

/** Ends the session of a cookie value; nothing for a value that has none. */
export async function logOut(db: Db, sessionId: string): Promise<void> {
  if (!looksLike(sessionId)) return;
  const id = digest(sessionId);
  const found = await getSession(db, id);
  if (!found) return;
  await db.transaction(async (tx) => {
    await deleteSession(tx, id);
    const at = new Date().toISOString();
    await appendAudit(tx, { at, actor: userActor(found.user), action: "user.logout", entity: "user", key: found.user.name });
  });
}
