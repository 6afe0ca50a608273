/**
 * The operator console: server-rendered pages (readable without JavaScript; htmx for actions and for
 * following a run in progress) and the JSON API under /api/v1, both over the same operations as the CLI
 * (src/operate/) and the same roles. Each page and each API group registers its own routes.
 */
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { Hono } from "hono";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
import { apiCaller, type Env } from "./auth/middleware.ts";
import { registerOperationsApi } from "./api/operations.api.ts";
import { registerRunsApi } from "./api/runs.api.ts";
import type { ConsoleDeps } from "./deps.ts";
import { registerMetrics } from "./metrics.ts";
import { registerConflicts } from "./pages/conflicts.ts";
import { registerDeadLetters } from "./pages/dead-letters.ts";
import { registerJobs } from "./pages/jobs.ts";
import { registerLogin } from "./pages/login.ts";
import { registerRecords } from "./pages/records.ts";
import { registerRuns } from "./pages/runs.ts";

const require = createRequire(import.meta.url);
const HTMX = readFileSync(require.resolve("htmx.org/dist/htmx.min.js"));
const STYLE = readFileSync(new URL("./html/style.css", import.meta.url));

export function createConsoleApp(deps: ConsoleDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.use(secureHeaders({ contentSecurityPolicy: { defaultSrc: ["'self'"], scriptSrc: ["'self'"], styleSrc: ["'self'"], imgSrc: ["'self'", "data:"] } }));
  // Forms only from the console's own pages (Origin / Sec-Fetch-Site); the API is for scripts with tokens.
  app.use("*", async (c, next) => (c.req.path.startsWith("/api/") ? next() : csrf()(c, next)));
  app.get("/static/htmx.min.js", (c) => c.body(HTMX, 200, { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "max-age=3600" }));
  // No icon: an empty answer, so that a browser's request for one is not a 404 in the log and its console.
  app.get("/favicon.ico", (c) => c.body(null, 204, { "Cache-Control": "max-age=86400" }));
  app.get("/static/style.css", (c) => c.body(STYLE, 200, { "Content-Type": "text/css; charset=utf-8", "Cache-Control": "max-age=3600" }));
  registerMetrics(app, deps);
  registerLogin(app, deps);
  registerRuns(app, deps);
  registerConflicts(app, deps);
  registerRecords(app, deps);
  registerDeadLetters(app, deps);
  registerJobs(app, deps);

  const api = new Hono<Env>();
  api.use("*", apiCaller(deps));
  registerRunsApi(api, deps);
  registerOperationsApi(api, deps);
  api.notFound((c) => c.json({ error: { code: "NOT_FOUND", message: `no API route ${c.req.method} ${c.req.path}` } }, 404));
  app.route("/api/v1", api);
  app.onError((e, c) => {
    // hono's own refusals (the cross-origin check's 403) keep their status.
    if (e instanceof HTTPException) return e.getResponse();
    deps.log.error({ err: e instanceof Error ? e.message : String(e), path: c.req.path }, "console request failed");
    if (c.req.path.startsWith("/api/")) return c.json({ error: { code: "INTERNAL", message: "Ferry failed on this request; its log says why" } }, 500);
    return c.text("Ferry failed on this request; its log says why.", 500);
  });
  return app;
}
