/** `GET /api/v1/runs` and `GET /api/v1/runs/{id}`: the runs, as the run page shows them. */
import type { Hono } from "hono";
import { runDetail, runFilterOf } from "../../operate/runs.ts";
import { listRuns } from "../../state/runs.repo.ts";
import type { Env } from "../auth/middleware.ts";
import type { ConsoleDeps } from "../deps.ts";
import { apiError } from "./errors.ts";

export function registerRunsApi(api: Hono<Env>, deps: ConsoleDeps) {
  api.get("/runs", async (c) => {
    const runs = await listRuns(deps.store.knex, runFilterOf(c.req.query()));
    return c.json({ runs });
  });
  api.get("/runs/:id{[0-9]+}", async (c) => {
    const key = c.req.query("key") || undefined;
    const d = await runDetail(deps.store, Number(c.req.param("id")), key ? { rejectKey: key } : {});
    if (!d) return apiError(c, 404, "RUN_UNKNOWN", `there is no run ${c.req.param("id")}`);
    return c.json(d);
  });
}
