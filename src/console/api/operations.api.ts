/**
 * The API's conflicts, records, dead letters and jobs: the same readings and operations as the pages, as
 * JSON. Mutations need the operator role (403 otherwise) and are audited under the token's user.
 */
import type { Context, Hono } from "hono";
import { explain } from "../../operate/explain.ts";
import { jobStatuses } from "../../operate/jobs.ts";
import { resolveConflicts } from "../../operate/resolve.ts";
import { allowed, type Env } from "../auth/middleware.ts";
import { actorOf, type ConsoleDeps } from "../deps.ts";
import { findConflicts } from "../pages/conflicts.ts";
import { actOnDeadLetters, findDeadLetters } from "../pages/dead-letters.ts";
import { triggerRun } from "../pages/jobs.ts";
import { apiError, ferryErrorAnswer } from "./errors.ts";

/** The JSON body of a request, or null when it is not a JSON object. */
async function jsonBody(c: Context): Promise<Record<string, unknown> | null> {
  try {
    const body: unknown = await c.req.json();
    return typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const ids = (v: unknown): number[] => (Array.isArray(v) ? v.map(Number).filter((n) => Number.isInteger(n) && n > 0) : []);

export function registerOperationsApi(api: Hono<Env>, deps: ConsoleDeps) {
  api.get("/conflicts", async (c) => c.json({ conflicts: await findConflicts(deps, c.req.query()) }));
  api.post("/conflicts/:id{[0-9]+}/resolve", allowed("resolve_conflict"), async (c) => {
    const body = await jsonBody(c);
    const decision = body?.keep === true ? { keep: true as const } : typeof body?.use === "string" ? { use: body.use } : typeof body?.value === "string" ? { value: body.value } : null;
    if (!decision) return apiError(c, 400, "CONFLICT_RESOLUTION_INVALID", "send {\"use\": \"<source>\"}, {\"value\": \"<value>\"} or {\"keep\": true}");
    const [settled] = await resolveConflicts(deps.project, deps.store, [Number(c.req.param("id"))], decision, actorOf(c.get("caller")));
    if (!settled!.ok) return apiError(c, /no conflict/.test(settled!.error) ? 404 : 409, settled!.code, settled!.error);
    return c.json({ resolution: settled!.resolution });
  });
  api.get("/records/:entity/:key", async (c) => {
    const r = await explain(deps.store, c.req.param("entity"), c.req.param("key"));
    return r ? c.json(r) : apiError(c, 404, "RECORD_UNKNOWN", `no ${c.req.param("entity")} with key ${c.req.param("key")}`);
  });
  api.get("/dead-letters", async (c) => c.json({ dead_letters: await findDeadLetters(deps, c.req.query()) }));
  for (const action of ["replay", "discard"] as const) {
    api.post(`/dead-letters/${action}`, allowed(action === "replay" ? "replay_dead_letter" : "discard_dead_letter"), async (c) => {
      const body = await jsonBody(c);
      const destination = typeof body?.destination === "string" ? body.destination : undefined;
      const selection = { ids: ids(body?.ids), ...(destination ? { destination } : {}) };
      try {
        const done = await actOnDeadLetters(deps, action, selection, c.get("caller"));
        return c.json({ [action === "replay" ? "replayed" : "discarded"]: done.map((d) => d.id) });
      } catch (e) {
        return ferryErrorAnswer(c, e);
      }
    });
  }
  api.get("/jobs", async (c) => c.json({ jobs: await jobStatuses(deps.project, deps.store) }));
  api.post("/jobs/:name/runs", allowed("trigger_run"), async (c) => {
    try {
      await triggerRun(deps, c.req.param("name"), c.get("caller"));
      return c.json({ requested: c.req.param("name") }, 202);
    } catch (e) {
      return ferryErrorAnswer(c, e);
    }
  });
}
