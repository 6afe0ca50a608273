/**
 * The console's identity layer on SQLite and PostgreSQL: logging in and out, throttling, sessions that slide
 * and end, disabled users, API tokens, and an audit log that records every change without a secret in it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createTestDatabase, pgSkip, type TestDatabase } from "../../../test/support/pg.ts";
import { openStateStore, type StateStore } from "../../state/store.ts";
import { digest } from "./credentials.ts";
import {
  addUser,
  createToken,
  disableUser,
  enableUser,
  listTokens,
  listUsers,
  logIn,
  logOut,
  revokeToken,
  type Session,
  SESSION_IDLE_MS,
  SESSION_MAX_AGE_MS,
  sessionOf,
  setPassword,
  tokenUser,
} from "./identity.ts";

const T0 = new Date("2030-01-01T00:00:00.000Z");
const at = (seconds: number) => new Date(T0.valueOf() + seconds * 1_000);
const HOUR = 3_600;
const PASSWORD = "correct horse battery staple";
const ACTOR = "cli:tester";

const skipPostgres = await pgSkip();

for (const backend of ["sqlite", "postgres"] as const) {
  describe(`identity on ${backend}`, { skip: backend === "postgres" ? skipPostgres : false }, () => {
    let store: StateStore;
    let dir: string;
    let database: TestDatabase | undefined;
    let n = 0;
    /** A user name of each test's own. */
    const name = (what: string) => `${what}-${++n}`;
    const db = () => store.knex;
    /** Every secret a test saw: none may be in the audit log. */
    const secrets = new Set<string>([PASSWORD]);

    before(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), "ferry-identity-"));
      if (backend === "postgres") database = await createTestDatabase();
      store = await openStateStore(database ? { url: database.url } : { path: "state.db" }, dir);
    });
    after(async () => {
      await store.close();
      await database?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    async function loggedIn(user: string, when: Date, password = PASSWORD): Promise<{ sessionId: string; session: Session }> {
      const result = await logIn(db(), user, password, when);
      assert.equal(result.kind, "ok", `${user} logs in`);
      if (result.kind !== "ok") throw new Error("unreachable");
      secrets.add(result.sessionId);
      secrets.add(digest(result.sessionId));
      return result;
    }

    const outcomes = async (user: string) =>
      ((await db()("login_attempts").where({ name: user }).orderBy("id")) as { outcome: string }[]).map((r) => r.outcome);

    test("a user logs in with the right password; the store keeps the session's digest, never its value", async () => {
      const user = name("ann");
      const added = await addUser(db(), { name: user, role: "operator", password: PASSWORD }, ACTOR, at(0));
      assert.deepEqual(added, { id: added.id, name: user, role: "operator", disabled: false, created_at: at(0).toISOString() });
      const { sessionId, session } = await loggedIn(user, at(10));
      assert.match(sessionId, /^[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(session.user, added);
      assert.match(session.csrf, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(session.expires_at, at(10 + 8 * HOUR).toISOString());
      const rows = (await db()("sessions").where({ user_id: added.id })) as { id: string }[];
      assert.deepEqual(rows.map((r) => r.id), [digest(sessionId)]);
      assert.deepEqual(await sessionOf(db(), sessionId, at(11)), session);
      assert.equal(await sessionOf(db(), digest(sessionId), at(11)), null, "the stored digest is no cookie");
      assert.deepEqual(await outcomes(user), ["ok"]);
    });

    test("a wrong password, an unknown name and a disabled user are all refused alike; every attempt is recorded", async () => {
      const user = name("bob");
      await addUser(db(), { name: user, role: "viewer", password: PASSWORD }, ACTOR, at(0));
      assert.deepEqual(await logIn(db(), user, `${PASSWORD}!`, at(1)), { kind: "refused" });
      assert.deepEqual(await logIn(db(), `${user}-nobody`, PASSWORD, at(2)), { kind: "refused" });
      await disableUser(db(), user, ACTOR, at(3));
      assert.deepEqual(await logIn(db(), user, PASSWORD, at(4)), { kind: "refused" });
      assert.deepEqual(await outcomes(user), ["refused", "refused"]);
      assert.deepEqual(await outcomes(`${user}-nobody`), ["refused"]);
    });

    test("five failures within 15 minutes throttle a name, unchecked, for a wait that grows with each failure", async () => {
      const user = name("cat");
      await addUser(db(), { name: user, role: "viewer", password: PASSWORD }, ACTOR, at(0));
      for (let s = 0; s < 5; s++) assert.deepEqual(await logIn(db(), user, "wrong password!", at(100 + s)), { kind: "refused" });
      assert.deepEqual(await logIn(db(), user, PASSWORD, at(105)), { kind: "throttled", retryAfterMs: 29_000 }, "even the right password");
      assert.deepEqual(await logIn(db(), user, "wrong password!", at(134)), { kind: "refused" }, "checked again after 30 s");
      assert.deepEqual(await logIn(db(), user, PASSWORD, at(135)), { kind: "throttled", retryAfterMs: 59_000 }, "the wait doubled");
      assert.deepEqual(await logIn(db(), user, "wrong password!", at(194)), { kind: "refused" });
      assert.deepEqual(await logIn(db(), user, PASSWORD, at(195)), { kind: "throttled", retryAfterMs: 119_000 });
      await loggedIn(user, at(314));
      assert.deepEqual(await logIn(db(), user, "wrong password!", at(315)), { kind: "refused" }, "a login ends the count");
      assert.deepEqual(await outcomes(user), [
        ...Array(5).fill("refused"),
        "throttled",
        "refused",
        "throttled",
        "refused",
        "throttled",
        "ok",
        "refused",
      ]);
    });

    test("an unknown name is throttled like a known one, so throttling does not tell which names exist", async () => {
      const nobody = name("nobody");
      for (let s = 0; s < 5; s++) await logIn(db(), nobody, "wrong password!", at(s));
      assert.deepEqual(await logIn(db(), nobody, "wrong password!", at(5)), { kind: "throttled", retryAfterMs: 29_000 });
    });

    test("a burst of parallel wrong attempts gets at most five checked", async () => {
      const user = name("dan");
      await addUser(db(), { name: user, role: "viewer", password: PASSWORD }, ACTOR, at(0));
      const results = await Promise.all(Array.from({ length: 12 }, () => logIn(db(), user, "wrong password!", at(1))));
      const checked = results.filter((r) => r.kind === "refused").length;
      assert.ok(checked <= 5, `${checked} of 12 checked`);
      assert.equal(results.filter((r) => r.kind === "throttled").length, 12 - checked);
      assert.ok(!(await outcomes(user)).includes("pending"), "every attempt settled");
    });

    test("a session slides with use (idle 8 h) and ends 7 days after login however busy; an ended one is forgotten", async () => {
      const user = name("eve");
      await addUser(db(), { name: user, role: "viewer", password: PASSWORD }, ACTOR, at(0));
      const { sessionId } = await loggedIn(user, at(0));
      assert.equal((await sessionOf(db(), sessionId, at(7 * HOUR)))?.expires_at, at(15 * HOUR).toISOString());
      assert.equal((await sessionOf(db(), sessionId, at(7 * HOUR + 30)))?.expires_at, at(15 * HOUR).toISOString(), "written at most once a minute");
      let last = 7 * HOUR;
      while (last + 7 * HOUR < SESSION_MAX_AGE_MS / 1_000) {
        last += 7 * HOUR;
        assert.notEqual(await sessionOf(db(), sessionId, at(last)), null, `alive at ${last / HOUR} h`);
      }
      const end = SESSION_MAX_AGE_MS / 1_000;
      assert.equal((await sessionOf(db(), sessionId, at(end - 1)))?.expires_at, at(end).toISOString(), "never past 7 days");
      assert.equal(await sessionOf(db(), sessionId, at(end)), null);
      assert.equal(await db()("sessions").where({ id: digest(sessionId) }).first(), undefined, "forgotten");

      const idle = await loggedIn(user, at(0));
      assert.notEqual(await sessionOf(db(), idle.sessionId, at(SESSION_IDLE_MS / 1_000 - 1)), null);
      const other = await loggedIn(user, at(0));
      assert.equal(await sessionOf(db(), other.sessionId, at(SESSION_IDLE_MS / 1_000)), null, "8 h idle");
    });

    test("logging out ends the session; unknown and malformed values are no session", async () => {
      const user = name("fay");
      await addUser(db(), { name: user, role: "viewer", password: PASSWORD }, ACTOR, at(0));
      const { sessionId } = await loggedIn(user, at(1));
      await logOut(db(), sessionId);
      assert.equal(await sessionOf(db(), sessionId, at(2)), null);
      await logOut(db(), sessionId);
      for (const bad of ["", "x", "A".repeat(43), "ferry_".repeat(20)]) assert.equal(await sessionOf(db(), bad, at(2)), null, bad);
    });

    test("disabling a user ends their sessions and suspends their tokens; enabling lets them back", async () => {
      const user = name("gus");
      await addUser(db(), { name: user, role: "operator", password: PASSWORD }, ACTOR, at(0));
      const a = await loggedIn(user, at(1));
      const b = await loggedIn(user, at(2));
      const { token } = await createToken(db(), { user, name: "nightly" }, ACTOR, at(3));
      secrets.add(token);
      assert.equal((await tokenUser(db(), token, at(4)))?.name, user);

      const disabled = await disableUser(db(), user, ACTOR, at(5));
      assert.equal(disabled.disabled, true);
      assert.equal(await sessionOf(db(), a.sessionId, at(6)), null);
      assert.equal(await sessionOf(db(), b.sessionId, at(6)), null);
      assert.equal((await db()("sessions").where({ user_id: disabled.id })).length, 0);
      assert.equal(await tokenUser(db(), token, at(6)), null);
      assert.deepEqual((await listTokens(db(), at(6), { user })).map((t) => t.status), ["suspended"]);
      await assert.rejects(createToken(db(), { user, name: "another" }, ACTOR, at(6)), { code: "USER_DISABLED" });

      await enableUser(db(), user, ACTOR, at(7));
      assert.equal((await tokenUser(db(), token, at(8)))?.name, user);
      await loggedIn(user, at(8));
      assert.equal((await listUsers(db())).find((u) => u.name === user)?.disabled, false);
    });

    test("a new password ends the user's other sessions; the old password no longer opens", async () => {
      const user = name("hal");
      await addUser(db(), { name: user, role: "admin", password: PASSWORD }, ACTOR, at(0));
      const mine = await loggedIn(user, at(1));
      const other = await loggedIn(user, at(2));
      const next = "a new passphrase, long enough";
      secrets.add(next);
      await setPassword(db(), { name: user, password: next, keepSessionId: mine.sessionId }, `user:${user}`, at(3));
      assert.notEqual(await sessionOf(db(), mine.sessionId, at(4)), null, "the session that asked stays");
      assert.equal(await sessionOf(db(), other.sessionId, at(4)), null);
      assert.deepEqual(await logIn(db(), user, PASSWORD, at(5)), { kind: "refused" });
      await loggedIn(user, at(6), next);
      await assert.rejects(setPassword(db(), { name: user, password: "short" }, ACTOR, at(7)), { code: "PASSWORD_TOO_SHORT" });
    });

    test("an API token acts as its user until revoked or expired; it is shown once and listed without its secret", async () => {
      const user = name("ida");
      const owner = await addUser(db(), { name: user, role: "operator", password: PASSWORD }, ACTOR, at(0));
      const made = await createToken(db(), { user, name: "exporter", expiresAt: at(2 * HOUR) }, ACTOR, at(1));
      secrets.add(made.token).add(digest(made.token));
      assert.match(made.token, /^ferry_[A-Za-z0-9_-]{43}$/);
      assert.equal(made.info.prefix, made.token.slice(0, 12));
      assert.deepEqual(await tokenUser(db(), made.token, at(10)), owner);
      assert.deepEqual(await tokenUser(db(), `Bearer ${made.token}`, at(10)), owner, "a whole Authorization value");
      const [listed] = await listTokens(db(), at(20), { user });
      assert.deepEqual(listed, { ...made.info, last_used_at: at(10).toISOString() });
      const stored = JSON.stringify(await db()("api_tokens").where({ id: made.info.id }));
      assert.ok(!stored.includes(made.token), "the store keeps no token");
      assert.ok(!JSON.stringify(await listTokens(db(), at(20))).includes(digest(made.token)), "a list shows no digest");

      assert.equal(await tokenUser(db(), made.token, at(2 * HOUR)), null, "expired");
      assert.equal((await listTokens(db(), at(2 * HOUR), { user }))[0]!.status, "expired");

      const forever = await createToken(db(), { user, name: "forever" }, ACTOR, at(3));
      secrets.add(forever.token);
      assert.equal((await revokeToken(db(), forever.info.id, ACTOR, at(4))).status, "revoked");
      assert.equal(await tokenUser(db(), forever.token, at(5)), null, "revoked");
      assert.equal((await revokeToken(db(), forever.info.id, ACTOR, at(6))).revoked_at, at(4).toISOString(), "revoking again changes nothing");
      for (const bad of ["", "ferry_", `ferry_${"A".repeat(43)}`, made.token.slice(6), `Basic ${made.token}`]) {
        assert.equal(await tokenUser(db(), bad, at(5)), null, bad);
      }
    });

    test("mistakes are refused with a code and a message that says what to do", async () => {
      const user = name("jon");
      await addUser(db(), { name: user, role: "viewer", password: PASSWORD }, ACTOR, at(0));
      await assert.rejects(addUser(db(), { name: user, role: "viewer", password: PASSWORD }, ACTOR, at(1)), {
        code: "USER_EXISTS",
        message: new RegExp(`user "${user}" exists already: choose another name`),
      });
      await assert.rejects(addUser(db(), { name: name("kim"), role: "root", password: PASSWORD }, ACTOR, at(1)), { code: "ROLE_UNKNOWN" });
      await assert.rejects(addUser(db(), { name: name("kim"), role: "viewer", password: "2short" }, ACTOR, at(1)), { code: "PASSWORD_TOO_SHORT" });
      await assert.rejects(addUser(db(), { name: "a b", role: "viewer", password: PASSWORD }, ACTOR, at(1)), { code: "USER_NAME_INVALID" });
      await assert.rejects(disableUser(db(), "nobody-at-all", ACTOR, at(1)), { code: "USER_UNKNOWN", message: /`ferry users list`/ });
      await assert.rejects(createToken(db(), { user: "nobody-at-all", name: "x" }, ACTOR, at(1)), { code: "USER_UNKNOWN" });
      await assert.rejects(createToken(db(), { user, name: "x", expiresAt: at(1) }, ACTOR, at(1)), { code: "TOKEN_EXPIRY_INVALID" });
      await assert.rejects(createToken(db(), { user, name: " " }, ACTOR, at(1)), { code: "TOKEN_NAME_INVALID" });
      await assert.rejects(revokeToken(db(), 999_999, ACTOR, at(1)), { code: "TOKEN_UNKNOWN" });
    });

    test("every change is in the audit log, with its actor, and no password, hash, token or session id", async () => {
      const user = name("lea");
      await addUser(db(), { name: user, role: "operator", password: PASSWORD }, ACTOR, at(0));
      const { sessionId } = await loggedIn(user, at(1));
      await setPassword(db(), { name: user, password: `${PASSWORD} 2` }, ACTOR, at(2));
      const { token, info } = await createToken(db(), { user, name: "ci" }, ACTOR, at(3));
      secrets.add(token).add(digest(token));
      await revokeToken(db(), info.id, ACTOR, at(4));
      await disableUser(db(), user, ACTOR, at(5));
      await enableUser(db(), user, ACTOR, at(6));
      const second = await loggedIn(user, at(7), `${PASSWORD} 2`);
      await logOut(db(), second.sessionId);

      const rows = (await db()("audit_log").where({ key: user }).orWhere({ entity: "api_token", key: String(info.id) }).orderBy("id")) as {
        actor: string;
        action: string;
        before: string | null;
        after: string | null;
      }[];
      assert.deepEqual(rows.map((r) => [r.actor, r.action]), [
        [ACTOR, "user.add"],
        [`user:${user}`, "user.login"],
        [ACTOR, "user.passwd"],
        [ACTOR, "token.create"],
        [ACTOR, "token.revoke"],
        [ACTOR, "user.disable"],
        [ACTOR, "user.enable"],
        [`user:${user}`, "user.login"],
        [`user:${user}`, "user.logout"],
      ]);
      assert.deepEqual(JSON.parse(rows[0]!.after!), { name: user, role: "operator", disabled: false });
      assert.deepEqual(JSON.parse(rows[5]!.before!), { name: user, role: "operator", disabled: false });
      assert.deepEqual(JSON.parse(rows[5]!.after!), { name: user, role: "operator", disabled: true });
      assert.equal(JSON.parse(rows[3]!.after!).prefix, token.slice(0, 12));
      assert.equal(sessionId.length, 43);

      const everything = JSON.stringify(await db()("audit_log"));
      assert.ok(!everything.includes("$argon2id$"), "no password hash");
      for (const hash of (await db()("users").pluck("password_hash")) as string[]) assert.ok(!everything.includes(hash));
      for (const secret of secrets) assert.ok(!everything.includes(secret), `no secret ${secret.slice(0, 10)}… in the audit log`);
    });
  });
}
