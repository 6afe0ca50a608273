/**
 * `/metrics` (Prometheus text format), `/healthz` and `/readyz`. The process's own metrics (src/metrics.ts)
 * and the gauges of the shared state, read from the state store at each scrape: any worker answers for the
 * cluster. `/metrics` needs no sign-in unless ferry.yaml's `http.metrics_token` is set (then `Authorization:
 * Bearer <it>`). `/healthz` says the process is alive; `/readyz` that the state store answers with its
 * migrations done and the scheduler is running. Neither touches a source or a destination.
 */
import { timingSafeEqual } from "node:crypto";
import type { Hono } from "hono";
import client from "prom-client";
import { m, registry } from "../metrics.ts";
import { upToDate } from "../state/store.ts";
import type { Env } from "./auth/middleware.ts";
import type { ConsoleDeps } from "./deps.ts";

const VERSION = "0.1.0";

/** The gauges of the shared state, each read from the store when scraped. */
function stateRegistry(deps: ConsoleDeps): client.Registry {
  const reg = new client.Registry();
  const db = deps.store.knex;
  const count = async (q: Promise<unknown[]>) => (await q) as { n: string | number; [k: string]: unknown }[];
  new client.Gauge({
    name: "ferry_outbox_records",
    help: "Outbox records by destination and status (pending, delivered, dead, superseded), in the state store.",
    labelNames: ["destination", "status"],
    registers: [reg],
    async collect() {
      this.reset();
      for (const r of await count(db("outbox").select("destination", "status").count({ n: "*" }).groupBy("destination", "status"))) {
        this.set({ destination: String(r.destination), status: String(r.status) }, Number(r.n));
      }
    },
  });
  new client.Gauge({
    name: "ferry_conflicts_open",
    help: "Open conflicts by entity, in the state store.",
    labelNames: ["entity"],
    registers: [reg],
    async collect() {
      this.reset();
      for (const r of await count(db("conflicts").where({ status: "open" }).select("entity").count({ n: "*" }).groupBy("entity"))) {
        this.set({ entity: String(r.entity) }, Number(r.n));
      }
    },
  });
  new client.Gauge({
    name: "ferry_dead_letters_open",
    help: "Open dead-letter entries by destination, in the state store.",
    labelNames: ["destination"],
    registers: [reg],
    async collect() {
      this.reset();
      for (const r of await count(db("dead_letters").whereNull("resolution").select("destination").count({ n: "*" }).groupBy("destination"))) {
        this.set({ destination: String(r.destination) }, Number(r.n));
      }
    },
  });
  new client.Gauge({
    name: "ferry_last_success_timestamp_seconds",
    help: "When each job's last successful run finished (Unix time), from the state store.",
    labelNames: ["job"],
    registers: [reg],
    async collect() {
      this.reset();
      const rows = (await db("runs").where({ status: "succeeded" }).select("job").max({ at: "finished_at" }).groupBy("job")) as { job: string; at: string }[];
      for (const r of rows) if (r.at) this.set({ job: r.job }, Date.parse(r.at) / 1000);
    },
  });
  new client.Gauge({
    name: "ferry_lease_heartbeat_timestamp_seconds",
    help: "The last heartbeat of each lease held (a job's run, a destination's delivery), by lease and worker (Unix time).",
    labelNames: ["lease", "worker"],
    registers: [reg],
    async collect() {
      this.reset();
      for (const l of (await db("leases").select("name", "worker", "heartbeat_at")) as { name: string; worker: string; heartbeat_at: string }[]) {
        this.set({ lease: l.name, worker: l.worker }, Date.parse(l.heartbeat_at) / 1000);
      }
    },
  });
  return reg;
}

const sameSecret = (given: string, expected: string) => {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

/** Resolves within `ms`, else rejects: a state store that hangs makes `/readyz` fail, not hang. */
const within = <T>(ms: number, p: Promise<T>) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

export function registerMetrics(app: Hono<Env>, deps: ConsoleDeps) {
  m.buildInfo.set({ version: VERSION, node: process.version }, 1);
  const state = stateRegistry(deps);
  const merged = client.Registry.merge([registry, state]);
  app.get("/metrics", async (c) => {
    const token = deps.metricsToken;
    if (token) {
      const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
      if (!sameSecret(bearer, token)) return c.text("send Authorization: Bearer <http.metrics_token>\n", 401);
    }
    return c.body(await merged.metrics(), 200, { "Content-Type": merged.contentType });
  });
  app.get("/healthz", (c) => c.json({ status: "alive" }));
  app.get("/readyz", async (c) => {
    const checks: Record<string, string> = {};
    try {
      checks.state_store = (await within(800, upToDate(deps.store.knex))) ? "ok" : "migrations not done";
    } catch (e) {
      checks.state_store = `unreachable: ${e instanceof Error ? e.message : String(e)}`;
    }
    const scheduler = deps.scheduler?.() ?? "not run here";
    checks.scheduler = scheduler;
    const ready = checks.state_store === "ok" && (scheduler === "running" || scheduler === "not run here");
    return c.json({ status: ready ? "ready" : "not ready", checks }, ready ? 200 : 503);
  });
}
