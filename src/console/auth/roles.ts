/**
 * Roles and what each may do. A viewer reads; an operator also settles what the engine left to people
 * (conflicts, dead letters) and starts or pauses work; an admin also manages users and API tokens. An API
 * token acts with its user's role.
 */
import { ConfigError } from "../../errors.ts";

export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

export const ACTIONS = [
  "read",
  "resolve_conflict",
  "replay_dead_letter",
  "discard_dead_letter",
  "trigger_run",
  "pause_schedule",
  "manage_users",
  "manage_tokens",
] as const;
export type Action = (typeof ACTIONS)[number];

const OPERATE: readonly Action[] = [
  "read",
  "resolve_conflict",
  "replay_dead_letter",
  "discard_dead_letter",
  "trigger_run",
  "pause_schedule",
];

const ALLOWED: Readonly<Record<Role, ReadonlySet<Action>>> = {
  viewer: new Set<Action>(["read"]),
  operator: new Set<Action>(OPERATE),
  admin: new Set<Action>(ACTIONS),
};

/** Whether a user of `role` may do `action`; false for anything not a known role. */
export function can(role: Role, action: Action): boolean {
  return ALLOWED[role]?.has(action) ?? false;
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** `value` as a role, or ROLE_UNKNOWN naming the roles there are. */
export function roleOf(value: string): Role {
  if (isRole(value)) return value;
  throw new ConfigError("ROLE_UNKNOWN", `no role ${JSON.stringify(value)}: give one of ${ROLES.join(", ")}`);
}
