import assert from "node:assert/strict";
import { test } from "node:test";
import { ACTIONS, type Action, can, ROLES, roleOf } from "./roles.ts";

test("what each role may do: viewer reads, operator settles and starts work, admin also manages users and tokens", () => {
  const allowed = Object.fromEntries(ROLES.map((role) => [role, ACTIONS.filter((a: Action) => can(role, a))]));
  assert.deepEqual(allowed, {
    viewer: ["read"],
    operator: ["read", "resolve_conflict", "replay_dead_letter", "discard_dead_letter", "trigger_run", "pause_schedule"],
    admin: [...ACTIONS],
  });
});

test("a role that is not one is refused, naming the roles there are; it may do nothing", () => {
  assert.equal(roleOf("admin"), "admin");
  assert.throws(() => roleOf("root"), { code: "ROLE_UNKNOWN", message: /no role "root": give one of viewer, operator, admin/ });
  assert.equal(can("root" as never, "read"), false);
});
