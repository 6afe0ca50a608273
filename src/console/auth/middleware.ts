/**
 * Who is calling: a browser by its session cookie, a script by `Authorization: Bearer <token>`. Pages
 * without a session go to the login page; the API without a valid token answers 401. A form (any POST of a
 * browser session) must carry the session's own token (`_csrf`), besides passing hono's same-origin check:
 * a page of another site cannot post in the operator's name.
 */
import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie } from "hono/cookie";
import type { Caller, ConsoleDeps } from "../deps.ts";
import { sessionOf, tokenUser } from "./identity.ts";
import { notice, page } from "../html/layout.ts";
import { type Action, can } from "./roles.ts";

export const SESSION_COOKIE = "ferry_session";

export type Env = { Variables: { caller: Caller } };

/** The caller of a request, or null. */
async function callerOf(c: Context, deps: ConsoleDeps): Promise<Caller | null> {
  const now = (deps.now ?? (() => new Date()))();
  const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
  if (bearer) {
    const user = await tokenUser(deps.store.knex, bearer[1]!, now);
    return user ? { name: user.name, role: user.role, via: "token" } : null;
  }
  const id = getCookie(c, SESSION_COOKIE);
  if (!id) return null;
  const session = await sessionOf(deps.store.knex, id, now);
  if (!session) {
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return null;
  }
  return { name: session.user.name, role: session.user.role, csrf: session.csrf, via: "session" };
}

/** Pages: a caller is required, else the login page (with where to come back to). */
export function signedIn(deps: ConsoleDeps): MiddlewareHandler<Env> {
  return async (c, next) => {
    const caller = await callerOf(c, deps);
    if (!caller) {
      if (c.req.method === "GET") return c.redirect(`/login?next=${encodeURIComponent(c.req.path + (new URL(c.req.url).search || ""))}`);
      return c.text("Sign in first.", 401);
    }
    if (caller.via === "session" && c.req.method !== "GET" && !(await csrfMatches(c, caller))) {
      const message = "This form is out of date or did not come from the console: reload the page and try again.";
      return c.html(page("Refused", caller, notice("error", message)), 403);
    }
    c.set("caller", caller);
    await next();
  };
}

/** The API: a valid token (or a browser session, for the console's own calls), else 401 as JSON. */
export function apiCaller(deps: ConsoleDeps): MiddlewareHandler<Env> {
  return async (c, next) => {
    const caller = await callerOf(c, deps);
    if (!caller) return c.json({ error: { code: "AUTH_REQUIRED", message: "send Authorization: Bearer <token> (ferry tokens create)" } }, 401);
    if (caller.via === "session" && c.req.method !== "GET" && !(await csrfMatches(c, caller))) {
      return c.json({ error: { code: "CSRF_TOKEN_INVALID", message: "the session's form token is missing or wrong" } }, 403);
    }
    c.set("caller", caller);
    await next();
  };
}

async function csrfMatches(c: Context, caller: Caller): Promise<boolean> {
  const header = c.req.header("x-csrf-token");
  if (header) return header === caller.csrf;
  const type = c.req.header("content-type") ?? "";
  if (!type.includes("form")) return false;
  const body = await c.req.parseBody({ all: true });
  return body._csrf === caller.csrf;
}

/** The 403 of a caller whose role may not do `action`: JSON for the API, a page otherwise. */
export function forbidden(c: Context<Env>, action: Action): Response | Promise<Response> {
  const caller = c.get("caller");
  const message = `${caller.name} (${caller.role}) may not ${action.replaceAll("_", " ")}: ask an operator or an admin`;
  if (c.req.path.startsWith("/api/")) return c.json({ error: { code: "ROLE_FORBIDDEN", message } }, 403);
  return c.html(page("Not allowed", caller, notice("error", message)), 403);
}

/** Refuses (403) a caller whose role may not do `action`. */
export function allowed(action: Action): MiddlewareHandler<Env> {
  return async (c, next) => {
    if (!can(c.get("caller").role, action)) return forbidden(c, action);
    await next();
  };
}
