/**
 * Managing console users: add, list, disable and enable, set a password. Every change is written with its
 * audit entry in one transaction; the entry says who did it, never a password or a hash.
 */
import { appendAudit } from "../../state/audit.repo.ts";
import { deleteSessionsOfUser } from "../../state/sessions.repo.ts";
import type { Db } from "../../state/store.ts";
import { getUserByName, insertUser, listUserRows, updateUser, type UserRow } from "../../state/users.repo.ts";
import { ConfigError } from "../../errors.ts";
import { digest } from "./credentials.ts";
import { hashPassword, passwordProblem } from "./passwords.ts";
import { type Role, roleOf } from "./roles.ts";

export interface User {
  id: number;
  name: string;
  role: Role;
  disabled: boolean;
  created_at: string;
}

/** Who made a change, for the audit log: `cli:<OS user>` from the command line, `user:<name>` from the console. */
export type Actor = string;

export const userActor = (user: Pick<User, "name">): Actor => `user:${user.name}`;

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function toUser(row: UserRow): User {
  return { id: row.id, name: row.name, role: row.role as Role, disabled: row.disabled_at !== null, created_at: row.created_at };
}

/** What the audit log keeps of a user. */
const audited = (u: User) => ({ name: u.name, role: u.role, disabled: u.disabled });

/** The user named `name`, or USER_UNKNOWN. */
export async function userNamed(db: Db, name: string): Promise<UserRow> {
  const row = await getUserByName(db, name);
  if (!row) throw new ConfigError("USER_UNKNOWN", `no user ${JSON.stringify(name)}: \`ferry users list\` shows them`);
  return row;
}

/** Refuses a name a new user cannot have (USER_NAME_INVALID). */
export function checkName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new ConfigError(
      "USER_NAME_INVALID",
      `user name ${JSON.stringify(name)} is not allowed: use 1 to 64 letters, digits and . _ @ -, starting with a letter or digit`,
    );
  }
}

function checkPassword(password: string): void {
  const problem = passwordProblem(password);
  if (problem) throw problem;
}

/** USER_EXISTS when a user has the name already. */
export async function checkNameFree(db: Db, name: string): Promise<void> {
  if (await getUserByName(db, name)) {
    throw new ConfigError("USER_EXISTS", `user ${JSON.stringify(name)} exists already: choose another name, or \`ferry users passwd ${name}\``);
  }
}

export async function addUser(
  db: Db,
  user: { name: string; role: string; password: string },
  actor: Actor,
  now: Date,
): Promise<User> {
  checkName(user.name);
  const role = roleOf(user.role);
  checkPassword(user.password);
  await checkNameFree(db, user.name);
  const password_hash = await hashPassword(user.password);
  const at = now.toISOString();
  try {
    return await db.transaction(async (tx) => {
      const added = toUser(await insertUser(tx, { name: user.name, role, password_hash, at }));
      await appendAudit(tx, { at, actor, action: "user.add", entity: "user", key: added.name, after: audited(added) });
      return added;
    });
  } catch (e) {
    // Added by someone else since the check: the name's unique index refused the row.
    await checkNameFree(db, user.name);
    throw e;
  }
}

export async function listUsers(db: Db): Promise<User[]> {
  return (await listUserRows(db)).map(toUser);
}

/** Sets a user's `disabled_at`, ending the sessions of a user disabled; its audit entry, when it changed. */
async function setDisabled(db: Db, name: string, disabled: boolean, actor: Actor, now: Date): Promise<User> {
  const at = now.toISOString();
  return db.transaction(async (tx) => {
    const row = await userNamed(tx, name);
    const before = toUser(row);
    const sessionsEnded = disabled ? await deleteSessionsOfUser(tx, row.id) : 0;
    if (before.disabled === disabled) return before;
    await updateUser(tx, row.id, { disabled_at: disabled ? at : null, updated_at: at });
    const after = { ...before, disabled };
    await appendAudit(tx, {
      at,
      actor,
      action: disabled ? "user.disable" : "user.enable",
      entity: "user",
      key: name,
      before: audited(before),
      after: audited(after),
      ...(disabled ? { details: { sessions_ended: sessionsEnded } } : {}),
    });
    return after;
  });
}

/**
 * Disables a user: their sessions end now, they cannot log in, and their API tokens are refused while they
 * stay disabled (enableUser makes them good again; revokeToken ends one for good).
 */
export function disableUser(db: Db, name: string, actor: Actor, now: Date): Promise<User> {
  return setDisabled(db, name, true, actor, now);
}

export function enableUser(db: Db, name: string, actor: Actor, now: Date): Promise<User> {
  return setDisabled(db, name, false, actor, now);
}

/**
 * Sets a user's password and ends their sessions but `keepSessionId` (the cookie value of the session that
 * asked, when a user changes their own password in the console).
 */
export async function setPassword(
  db: Db,
  change: { name: string; password: string; keepSessionId?: string },
  actor: Actor,
  now: Date,
): Promise<User> {
  checkPassword(change.password);
  await userNamed(db, change.name);
  const password_hash = await hashPassword(change.password);
  const at = now.toISOString();
  return db.transaction(async (tx) => {
    const row = await userNamed(tx, change.name);
    await updateUser(tx, row.id, { password_hash, updated_at: at });
    const kept = change.keepSessionId === undefined ? undefined : digest(change.keepSessionId);
    const sessionsEnded = await deleteSessionsOfUser(tx, row.id, kept);
    await appendAudit(tx, {
      at,
      actor,
      action: "user.passwd",
      entity: "user",
      key: row.name,
      details: { sessions_ended: sessionsEnded },
    });
    return toUser(row);
  });
}
