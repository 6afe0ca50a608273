/**
 * Password hashes: argon2id with OWASP's parameters as a PHC string, verified with the parameters read back
 * from the string (so a hash made elsewhere verifies), and any change to a stored hash refused.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ARGON2_PARAMETERS,
  formatPhc,
  hashPassword,
  parsePhc,
  passwordProblem,
  PASSWORD_MIN_LENGTH,
  verifyPassword,
} from "./passwords.ts";

const PASSWORD = "correct horse battery staple";

describe("password hashes", () => {
  test("a hash is an argon2id PHC string with OWASP's parameters, a 16-byte salt and a 32-byte tag", async () => {
    const phc = await hashPassword(PASSWORD);
    assert.match(phc, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    const parsed = parsePhc(phc)!;
    assert.equal(parsed.memory, ARGON2_PARAMETERS.memory);
    assert.equal(parsed.passes, 2);
    assert.equal(parsed.parallelism, 1);
    assert.equal(parsed.salt.length, 16);
    assert.equal(parsed.hash.length, 32);
    assert.equal(formatPhc(parsed), phc, "parsing and formatting give the same string");
  });

  test("the right password verifies, a wrong one does not; each hash has its own salt", async () => {
    const phc = await hashPassword(PASSWORD);
    assert.equal(await verifyPassword(PASSWORD, phc), true);
    assert.equal(await verifyPassword("correct horse battery stapler", phc), false);
    assert.equal(await verifyPassword("", phc), false);
    const again = await hashPassword(PASSWORD);
    assert.notEqual(again, phc);
    assert.equal(await verifyPassword(PASSWORD, again), true);
  });

  test("the same password typed composed or decomposed verifies (NFC)", async () => {
    const phc = await hashPassword("Crème brûlée au café");
    assert.equal(await verifyPassword("Cre\u0300me bru\u0302le\u0301e au cafe\u0301", phc), true);
  });

  test("a hash made by another argon2 implementation, with other parameters, verifies with its own parameters", async () => {
    // argon2-cffi's documented example (m=64 MiB, t=3, p=4): the parameters come from the string.
    const phc = "$argon2id$v=19$m=65536,t=3,p=4$MIIRqgvgQbgj220jfp0MPA$YfwJSVjtjSU0zzV/P3S9nnQ/USre2wvJMjfCIjrTQbg";
    assert.deepEqual(
      { ...parsePhc(phc)!, salt: undefined, hash: undefined },
      { memory: 65536, passes: 3, parallelism: 4, salt: undefined, hash: undefined },
    );
    assert.equal(await verifyPassword("correct horse battery staple", phc), true);
    assert.equal(await verifyPassword("correct horse battery stapl", phc), false);
  });

  test("a tampered hash is refused: changed tag, salt or parameters", async () => {
    const phc = await hashPassword(PASSWORD);
    const parts = phc.split("$"); // ["", "argon2id", "v=19", "m=19456,t=2,p=1", salt, hash]
    const flip = (s: string) => (s[0] === "A" ? "B" : "A") + s.slice(1);
    const tampered = [
      [...parts.slice(0, 5), flip(parts[5]!)].join("$"),
      [...parts.slice(0, 4), flip(parts[4]!), parts[5]].join("$"),
      [...parts.slice(0, 3), "m=19456,t=3,p=1", ...parts.slice(4)].join("$"),
      [...parts.slice(0, 3), "m=19457,t=2,p=1", ...parts.slice(4)].join("$"),
      phc.replace("$argon2id$", "$argon2i$"),
    ];
    for (const bad of tampered) assert.equal(await verifyPassword(PASSWORD, bad), false, bad);
  });

  test("strings that are not argon2id PHC hashes never verify, and absurd parameters are not computed", async () => {
    for (const bad of [
      "",
      PASSWORD,
      "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
      "$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
      "$argon2id$v=19$m=9999999,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
      "$argon2id$v=19$m=19456,t=0,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
    ]) {
      assert.equal(parsePhc(bad), undefined, bad);
      assert.equal(await verifyPassword(PASSWORD, bad), false, bad);
    }
  });

  test("a new password needs at least 12 characters (counted as characters, not bytes)", () => {
    assert.equal(passwordProblem("x".repeat(PASSWORD_MIN_LENGTH - 1))?.code, "PASSWORD_TOO_SHORT");
    assert.match(passwordProblem("short")!.message, /has 5 characters: give at least 12/);
    assert.equal(passwordProblem("x".repeat(PASSWORD_MIN_LENGTH)), undefined);
    assert.equal(passwordProblem("ééééééééééé")?.code, "PASSWORD_TOO_SHORT", "11 characters, 22 bytes");
    assert.equal(passwordProblem("x".repeat(1025))?.code, "PASSWORD_TOO_LONG");
  });
});
