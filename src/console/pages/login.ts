/** Signing in and out. A wrong password is answered the same way whatever was wrong; repeated failures are slowed down. */
import type { Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { html } from "hono/html";
import { logIn, logOut } from "../auth/identity.ts";
import { type Env, SESSION_COOKIE, signedIn } from "../auth/middleware.ts";
import type { ConsoleDeps } from "../deps.ts";
import { notice, page } from "../html/layout.ts";

/** Only a path of the console itself is a place to go back to after signing in. */
const safeNext = (next: string | undefined) => (next && /^\/(?!\/)/.test(next) ? next : "/runs");

function form(next: string, message?: string) {
  return page(
    "Sign in",
    null,
    html`<form class="login" method="post" action="/login">
      ${message ? notice("error", message) : ""}
      <input type="hidden" name="next" value="${next}" />
      <label>User <input name="name" autocomplete="username" required autofocus /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      <button type="submit">Sign in</button>
    </form>`,
  );
}

export function registerLogin(app: Hono<Env>, deps: ConsoleDeps) {
  app.get("/login", (c) => c.html(form(safeNext(c.req.query("next")))));
  app.post("/login", async (c) => {
    const body = await c.req.parseBody();
    const next = safeNext(typeof body.next === "string" ? body.next : undefined);
    const name = typeof body.name === "string" ? body.name : "";
    const password = typeof body.password === "string" ? body.password : "";
    const outcome = await logIn(deps.store.knex, name, password, (deps.now ?? (() => new Date()))());
    if (outcome.kind === "throttled") {
      c.header("Retry-After", String(Math.ceil(outcome.retryAfterMs / 1000)));
      return c.html(form(next, `Too many failed sign-ins for this user: try again in ${Math.ceil(outcome.retryAfterMs / 1000)} s.`), 429);
    }
    if (outcome.kind === "refused") return c.html(form(next, "Wrong user or password, or the user is disabled."), 401);
    setCookie(c, SESSION_COOKIE, outcome.sessionId, { path: "/", httpOnly: true, sameSite: "Lax", secure: deps.secure });
    return c.redirect(next, 303);
  });
  app.post("/logout", signedIn(deps), async (c) => {
    const id = getCookie(c, SESSION_COOKIE);
    if (id) await logOut(deps.store.knex, id);
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.redirect("/login", 303);
  });
}
