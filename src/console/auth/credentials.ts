/**
 * The secrets the console hands out (session cookies, CSRF tokens, API tokens) and how the store keeps
 * them: 32 random bytes each, and, for those that open a session or act as a user, only their SHA-256. A
 * slow hash would add nothing: 256 random bits cannot be guessed, only stolen, and the digest is what makes
 * a stolen copy of the store useless.
 */
import { createHash, randomBytes } from "node:crypto";

/** What every API token starts with: lets secret scanners and people recognise one. */
export const TOKEN_PREFIX = "ferry_";
/** How much of a token a list shows: the prefix and six random characters. */
export const TOKEN_VISIBLE_LENGTH = TOKEN_PREFIX.length + 6;

const random = () => randomBytes(32).toString("base64url");

export const newSessionId = random;
export const newCsrfToken = random;
export const newApiToken = () => `${TOKEN_PREFIX}${random()}`;

/** SHA-256, hex: what the store keeps of a session id or an API token. */
export const digest = (secret: string) => createHash("sha256").update(secret, "utf8").digest("hex");

/** Whether `value` has the shape of a secret made here (43 base64url characters after `prefix`). */
export function looksLike(value: string, prefix = ""): boolean {
  return value.length === prefix.length + 43 && value.startsWith(prefix) && /^[A-Za-z0-9_-]+$/.test(value.slice(prefix.length));
}
