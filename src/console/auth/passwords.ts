/**
 * Password hashing: argon2id through Node's own `crypto.argon2` (Node 24.7 and later), with OWASP's
 * parameters (19 MiB of memory, 2 passes, 1 lane), a 16-byte random salt and a 32-byte tag, kept as a PHC
 * string: `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>` (base64 without padding), the format of the
 * reference implementation and of the argon2 libraries of other languages. A hash is verified with the
 * parameters read back from its own string, so that raising them later leaves existing hashes valid.
 */
import * as crypto from "node:crypto";
import { ConfigError } from "../../errors.ts";

export const ARGON2_PARAMETERS = { memory: 19_456, passes: 2, parallelism: 1, saltLength: 16, tagLength: 32 } as const;

export const PASSWORD_MIN_LENGTH = 12;
/** Beyond this a password is refused: hashing a megabyte of text on every login attempt costs for nothing. */
export const PASSWORD_MAX_LENGTH = 1024;

export interface Argon2Hash {
  memory: number;
  passes: number;
  parallelism: number;
  salt: Buffer;
  hash: Buffer;
}

type Argon2 = (
  algorithm: "argon2id",
  parameters: { message: Buffer; nonce: Buffer; parallelism: number; tagLength: number; memory: number; passes: number },
  callback: (err: Error | null, key: Buffer) => void,
) => void;

/** Node's argon2, looked up when used: on a Node without it, a clear error rather than a failed import. */
function argon2(message: Buffer, params: Omit<Argon2Hash, "hash">, tagLength: number): Promise<Buffer> {
  const fn = (crypto as unknown as { argon2?: Argon2 }).argon2;
  if (typeof fn !== "function") {
    throw new ConfigError(
      "PASSWORD_HASHING_UNAVAILABLE",
      `this Node.js (${process.version}) has no crypto.argon2, which console passwords need: run Ferry on Node.js 24.7 or later`,
    );
  }
  const { memory, passes, parallelism, salt } = params;
  return new Promise((resolve, reject) => {
    fn("argon2id", { message, nonce: salt, parallelism, tagLength, memory, passes }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/**
 * The bytes hashed: NFC-normalised UTF-8, so that the same password typed on systems that compose accents
 * differently verifies.
 */
const bytesOf = (password: string) => Buffer.from(password.normalize("NFC"), "utf8");

const b64 = (b: Buffer) => b.toString("base64").replace(/=+$/, "");

export function formatPhc(h: Argon2Hash): string {
  return `$argon2id$v=19$m=${h.memory},t=${h.passes},p=${h.parallelism}$${b64(h.salt)}$${b64(h.hash)}`;
}

/** A hash asking for more memory than this (1 GiB) is refused rather than computed. */
const MAX_MEMORY_KIB = 1_048_576;

const PHC = /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]{11,})\$([A-Za-z0-9+/]{22,})$/;

/** The parameters, salt and hash of an argon2id PHC string; undefined for anything else (or for absurd parameters). */
export function parsePhc(text: string): Argon2Hash | undefined {
  const m = PHC.exec(text);
  if (!m) return undefined;
  const [memory, passes, parallelism] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const salt = Buffer.from(m[4]!, "base64");
  const hash = Buffer.from(m[5]!, "base64");
  if (parallelism < 1 || parallelism > 16 || passes < 1 || passes > 64) return undefined;
  if (memory < 8 * parallelism || memory > MAX_MEMORY_KIB || salt.length < 8 || hash.length < 16) return undefined;
  return { memory, passes, parallelism, salt, hash };
}

/** A new PHC string for `password`, with a fresh salt. */
export async function hashPassword(password: string): Promise<string> {
  const params = { ...ARGON2_PARAMETERS, salt: crypto.randomBytes(ARGON2_PARAMETERS.saltLength) };
  const hash = await argon2(bytesOf(password), params, ARGON2_PARAMETERS.tagLength);
  return formatPhc({ ...params, hash });
}

/** Whether `password` is the one `phc` was made from; false for a string that is not an argon2id PHC hash. */
export async function verifyPassword(password: string, phc: string): Promise<boolean> {
  const stored = parsePhc(phc);
  if (!stored) return false;
  const computed = await argon2(bytesOf(password), stored, stored.hash.length);
  return crypto.timingSafeEqual(computed, stored.hash);
}

/** Why a new password is refused, as an error that says what to do; undefined when it is acceptable. */
export function passwordProblem(password: string): ConfigError | undefined {
  const length = [...password.normalize("NFC")].length;
  if (length < PASSWORD_MIN_LENGTH) {
    return new ConfigError(
      "PASSWORD_TOO_SHORT",
      `the password has ${length} characters: give at least ${PASSWORD_MIN_LENGTH} (a passphrase of a few words is easiest to remember)`,
    );
  }
  if (length > PASSWORD_MAX_LENGTH) {
    return new ConfigError("PASSWORD_TOO_LONG", `the password has ${length} characters: give at most ${PASSWORD_MAX_LENGTH}`);
  }
  return undefined;
}
