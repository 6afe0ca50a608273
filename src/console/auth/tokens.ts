/**
 * API tokens: made for a user (acting with that user's role), shown once, listed without their secret,
 * revoked for good. A token is refused once revoked, past its expiry, or while its user is disabled.
 */
import { appendAudit } from "../../state/audit.repo.ts";
import {
  type ApiTokenListing,
  findApiToken,
  getApiToken,
  insertApiToken,
  listApiTokens,
  markApiTokenUsed,
  revokeApiToken,
} from "../../state/api-tokens.repo.ts";
import type { Db } from "../../state/store.ts";
import { ConfigError } from "../../errors.ts";
import { digest, looksLike, newApiToken, TOKEN_PREFIX, TOKEN_VISIBLE_LENGTH } from "./credentials.ts";
import { type Actor, toUser, type User, userNamed } from "./users.ts";

/** How often a token's `last_used_at` is written at most: once a minute, not on every request. */
export const TOKEN_TOUCH_MS = 60_000;

export type TokenStatus = "active" | "revoked" | "expired" | "suspended";

export interface TokenInfo {
  id: number;
  name: string;
  /** The name of the user it acts as. */
  user: string;
  /** The token's first characters (`ferry_` and six more), to recognise it by. */
  prefix: string;
  created_by: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  /** At the time asked: `suspended` while its user is disabled. */
  status: TokenStatus;
}

function statusOf(row: ApiTokenListing, at: string): TokenStatus {
  if (row.revoked_at !== null) return "revoked";
  if (row.expires_at !== null && row.expires_at <= at) return "expired";
  if (row.user_disabled_at !== null) return "suspended";
  return "active";
}

function toInfo(row: ApiTokenListing, at: string): TokenInfo {
  return {
    id: row.id,
    name: row.name,
    user: row.user_name,
    prefix: row.prefix,
    created_by: row.created_by,
    created_at: row.created_at,
    expires_at: row.expires_at,
    last_used_at: row.last_used_at,
    revoked_at: row.revoked_at,
    status: statusOf(row, at),
  };
}

/** What the audit log keeps of a token: never its value or hash. */
const audited = (t: TokenInfo) => ({ id: t.id, name: t.name, user: t.user, prefix: t.prefix, expires_at: t.expires_at, status: t.status });

function checkTokenRequest(name: string, expiresAt: Date | undefined, now: Date): void {
  if (name.trim() === "" || name.length > 100) {
    throw new ConfigError("TOKEN_NAME_INVALID", "a token needs a name of 1 to 100 characters that says what uses it (`--name nightly-export`)");
  }
  if (expiresAt !== undefined && !(expiresAt.valueOf() > now.valueOf())) {
    throw new ConfigError("TOKEN_EXPIRY_INVALID", `a token's expiry must be in the future (got ${expiresAt.toISOString()})`);
  }
}

/**
 * Makes an API token for `user`. The token is in what this returns and nowhere else: the store keeps its
 * SHA-256, so it cannot be shown again.
 */
export async function createToken(
  db: Db,
  request: { user: string; name: string; expiresAt?: Date },
  actor: Actor,
  now: Date,
): Promise<{ token: string; info: TokenInfo }> {
  checkTokenRequest(request.name, request.expiresAt, now);
  const at = now.toISOString();
  const token = newApiToken();
  const info = await db.transaction(async (tx) => {
    const owner = await userNamed(tx, request.user);
    if (owner.disabled_at !== null) {
      throw new ConfigError("USER_DISABLED", `user ${JSON.stringify(owner.name)} is disabled: \`ferry users enable ${owner.name}\` first`);
    }
    const id = await insertApiToken(tx, {
      name: request.name,
      user_id: owner.id,
      hash: digest(token),
      prefix: token.slice(0, TOKEN_VISIBLE_LENGTH),
      created_by: actor,
      created_at: at,
      expires_at: request.expiresAt?.toISOString() ?? null,
    });
    const made = toInfo((await getApiToken(tx, id))!, at);
    await appendAudit(tx, { at, actor, action: "token.create", entity: "api_token", key: String(id), after: audited(made) });
    return made;
  });
  return { token, info };
}

/** Every token (or one user's), newest first, with its status at `now`; never a token's value or hash. */
export async function listTokens(db: Db, now: Date, filter: { user?: string } = {}): Promise<TokenInfo[]> {
  const userId = filter.user === undefined ? undefined : (await userNamed(db, filter.user)).id;
  const rows = await listApiTokens(db, userId === undefined ? {} : { userId });
  return rows.map((r) => toInfo(r, now.toISOString()));
}

/** Revokes a token for good; revoking one already revoked changes nothing. */
export async function revokeToken(db: Db, id: number, actor: Actor, now: Date): Promise<TokenInfo> {
  const at = now.toISOString();
  return db.transaction(async (tx) => {
    const row = await getApiToken(tx, id);
    if (!row) throw new ConfigError("TOKEN_UNKNOWN", `no API token ${id}: \`ferry tokens list\` shows their ids`);
    const before = toInfo(row, at);
    if (row.revoked_at !== null) return before;
    await revokeApiToken(tx, id, at);
    const after = toInfo({ ...row, revoked_at: at }, at);
    await appendAudit(tx, { at, actor, action: "token.revoke", entity: "api_token", key: String(id), before: audited(before), after: audited(after) });
    return after;
  });
}

/**
 * The user an API token acts as: `token` is the token, or a whole `Authorization` header value
 * (`Bearer <token>`). Null when it is not a token, unknown, revoked, expired, or its user is disabled.
 * Records when the token was used, to the minute.
 */
export async function tokenUser(db: Db, token: string, now: Date): Promise<User | null> {
  const value = token.replace(/^Bearer\s+/i, "").trim();
  if (!looksLike(value, TOKEN_PREFIX)) return null;
  const found = await findApiToken(db, digest(value));
  if (!found) return null;
  const at = now.toISOString();
  const { token: row, user } = found;
  if (row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= at) || user.disabled_at !== null) return null;
  if (row.last_used_at === null || now.valueOf() - Date.parse(row.last_used_at) >= TOKEN_TOUCH_MS) {
    await markApiTokenUsed(db, row.id, at);
  }
  return toUser(user);
}
