/**
 * Console users: a unique name, a role, an argon2id password hash (a PHC string, src/console/auth/passwords.ts)
 * and, once disabled, when. Rows are never deleted: sessions, tokens and the audit log refer to them. The
 * rules (who may log in, what a role may do) are src/console/auth/.
 */
import type { Db } from "./store.ts";

export interface UserRow {
  id: number;
  name: string;
  role: string;
  password_hash: string;
  disabled_at: string | null;
  created_at: string;
  updated_at: string;
}

const withNumbers = (row: UserRow): UserRow => ({ ...row, id: Number(row.id) });

export async function insertUser(
  db: Db,
  user: { name: string; role: string; password_hash: string; at: string },
): Promise<UserRow> {
  const [row] = await db("users").insert(
    { name: user.name, role: user.role, password_hash: user.password_hash, created_at: user.at, updated_at: user.at },
    ["id"],
  );
  const id = Number(typeof row === "object" ? (row as { id: number }).id : row);
  return (await getUserById(db, id))!;
}

export async function getUserByName(db: Db, name: string): Promise<UserRow | undefined> {
  const row = (await db("users").where({ name }).first()) as UserRow | undefined;
  return row && withNumbers(row);
}

export async function getUserById(db: Db, id: number): Promise<UserRow | undefined> {
  const row = (await db("users").where({ id }).first()) as UserRow | undefined;
  return row && withNumbers(row);
}

export async function listUserRows(db: Db): Promise<UserRow[]> {
  return ((await db("users").orderBy("name")) as UserRow[]).map(withNumbers);
}

export async function updateUser(
  db: Db,
  id: number,
  changes: Partial<Pick<UserRow, "role" | "password_hash" | "disabled_at">> & { updated_at: string },
): Promise<void> {
  await db("users").where({ id }).update(changes);
}
