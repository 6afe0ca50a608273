/**
 * API tokens: each belongs to a user and acts with that user's role. The token itself is shown once, when it
 * is made; the store keeps its SHA-256 (hex) to find it by, and a short prefix for people to recognise it in
 * a list. Revoked tokens stay, for the record. The policy is src/console/auth/tokens.ts.
 */
import type { Db } from "./store.ts";
import type { UserRow } from "./users.repo.ts";

export interface ApiTokenRow {
  id: number;
  name: string;
  user_id: number;
  hash: string;
  prefix: string;
  created_by: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  expires_at: string | null;
}

/** A token's row with its user's name and whether that user is disabled. */
export type ApiTokenListing = Omit<ApiTokenRow, "hash"> & { user_name: string; user_disabled_at: string | null };

const LISTED = [
  "api_tokens.id as id",
  "api_tokens.name as name",
  "api_tokens.user_id as user_id",
  "api_tokens.prefix as prefix",
  "api_tokens.created_by as created_by",
  "api_tokens.created_at as created_at",
  "api_tokens.last_used_at as last_used_at",
  "api_tokens.revoked_at as revoked_at",
  "api_tokens.expires_at as expires_at",
  "users.name as user_name",
  "users.disabled_at as user_disabled_at",
];

const listing = (row: ApiTokenListing): ApiTokenListing => ({ ...row, id: Number(row.id), user_id: Number(row.user_id) });

export async function insertApiToken(db: Db, token: Omit<ApiTokenRow, "id" | "last_used_at" | "revoked_at">): Promise<number> {
  const [row] = await db("api_tokens").insert(token, ["id"]);
  return Number(typeof row === "object" ? (row as { id: number }).id : row);
}

export async function getApiToken(db: Db, id: number): Promise<ApiTokenListing | undefined> {
  const row = (await db("api_tokens").join("users", "users.id", "api_tokens.user_id").where("api_tokens.id", id).first(LISTED)) as
    | ApiTokenListing
    | undefined;
  return row && listing(row);
}

/** Every token (or a user's), newest first, without their hashes. */
export async function listApiTokens(db: Db, filter: { userId?: number } = {}): Promise<ApiTokenListing[]> {
  const q = db("api_tokens").join("users", "users.id", "api_tokens.user_id").select(LISTED).orderBy("api_tokens.id", "desc");
  if (filter.userId !== undefined) q.where("api_tokens.user_id", filter.userId);
  return ((await q) as ApiTokenListing[]).map(listing);
}

/** A token by the digest of its value, with its user's row. */
export async function findApiToken(db: Db, hash: string): Promise<{ token: ApiTokenRow; user: UserRow } | undefined> {
  const token = (await db("api_tokens").where({ hash }).first()) as ApiTokenRow | undefined;
  if (!token) return undefined;
  const user = (await db("users").where({ id: token.user_id }).first()) as UserRow | undefined;
  if (!user) return undefined;
  return {
    token: { ...token, id: Number(token.id), user_id: Number(token.user_id) },
    user: { ...user, id: Number(user.id) },
  };
}

export async function markApiTokenUsed(db: Db, id: number, at: string): Promise<void> {
  await db("api_tokens").where({ id }).update({ last_used_at: at });
}

export async function revokeApiToken(db: Db, id: number, at: string): Promise<void> {
  await db("api_tokens").where({ id }).whereNull("revoked_at").update({ revoked_at: at });
}
