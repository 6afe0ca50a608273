/**
 * Jobs: schedule, next occurrence, last run, the run going on now and its worker; an operator triggers a
 * run now (through the same queue as the schedules, so with several workers it runs once) and pauses or
 * resumes a schedule. Destinations: what waits, what is being delivered and by whom, what died, the last
 * error. The audit log: every decision, newest first.
 */
import type { Hono } from "hono";
import { html } from "hono/html";
import { ConfigError, FerryError } from "../../errors.ts";
import { m } from "../../metrics.ts";
import { jobStatuses, type JobStatus, setPaused, unknownJob } from "../../operate/jobs.ts";
import { listAudit } from "../../state/audit.repo.ts";
import { listLeases } from "../../state/leases.repo.ts";
import { outboxCounts } from "../../state/outbox.repo.ts";
import { allowed, type Env, signedIn } from "../auth/middleware.ts";
import { can } from "../auth/roles.ts";
import { actorOf, type Caller, type ConsoleDeps } from "../deps.ts";
import { csrfField, type Html, inPlace, notice, page, recordLink, table, text } from "../html/layout.ts";

/** The destinations whose circuit breaker is open in this process (ferry_breaker_open). */
async function breakersOpen(): Promise<Set<string>> {
  const values = (await m.breakerOpen.get()).values;
  return new Set(values.filter((v) => v.value === 1).map((v) => String(v.labels.destination)));
}

/** Asks for a run of a job now; the API and the page share it. */
export async function triggerRun(deps: ConsoleDeps, name: string, caller: Caller): Promise<void> {
  if (!deps.project.jobs.has(name)) throw unknownJob(deps.project, name);
  if (!deps.requestRun) throw new ConfigError("CLI_BAD_OPTION", "this console runs without schedules (--no-schedule): start a run with `ferry run` or from a worker's console");
  await deps.requestRun(name, `trigger by ${actorOf(caller)}`);
}

function actions(j: JobStatus, caller: Caller, deps: ConsoleDeps): Html {
  const forms: Html[] = [];
  if (can(caller.role, "trigger_run") && deps.requestRun) {
    forms.push(html`<form method="post" action="/jobs/${j.name}/runs" ${inPlace(`/jobs/${j.name}/runs`)}>${csrfField(caller)}<button type="submit">Run now</button></form>`);
  }
  if (can(caller.role, "pause_schedule") && (j.schedule || j.paused)) {
    const verb = j.paused ? "resume" : "pause";
    forms.push(html`<form method="post" action="/jobs/${j.name}/${verb}" ${inPlace(`/jobs/${j.name}/${verb}`)}>${csrfField(caller)}<button type="submit" class="secondary">${j.paused ? "Resume" : "Pause"}</button></form>`);
  }
  return html`<div class="actions">${forms}</div>`;
}

function jobsTable(jobs: readonly JobStatus[], caller: Caller, deps: ConsoleDeps): Html {
  return table(["Job", "Source", "Schedule", "Next run", "Last run", "Running now", ""], jobs, (j) => [
    html`<strong>${j.name}</strong>${j.description ? html`<br /><span class="empty">${j.description}</span>` : ""}`,
    text(j.source),
    html`${j.schedule ? html`<code>${j.schedule}</code> ${j.timezone}` : "–"}${j.paused ? html`<br /><span class="bad">paused by ${j.paused.paused_by} at ${j.paused.paused_at}</span>` : ""}`,
    text(j.next_run_at),
    j.last_run ? html`<a href="/runs/${j.last_run.id}">${j.last_run.id}</a> <span class="status-${j.last_run.status}">${j.last_run.status}</span> ${j.last_run.started_at}` : text(null),
    j.running ? html`since ${j.running.since} on worker ${j.running.worker}` : text(null),
    actions(j, caller, deps),
  ]);
}

/**
 * What an audit entry is about: a synced record links to its page; a console user or API token (entity
 * `user` or `api_token`, actions `user.*` and `token.*`) has none, even when a mapping's entity shares its name.
 */
function auditSubject(deps: ConsoleDeps, a: Record<string, unknown>): Html {
  if (typeof a.entity !== "string" || a.key === null || a.key === undefined) return text(null);
  const key = String(a.key);
  const aboutRecord = deps.project.mappings.has(a.entity) && !/^(user|token)\./.test(String(a.action));
  return aboutRecord ? recordLink(a.entity, key) : text(`${a.entity} ${key}`);
}

async function jobsPage(deps: ConsoleDeps, caller: Caller, message: Html | "" = "") {
  return page("Jobs", caller, html`${message}${jobsTable(await jobStatuses(deps.project, deps.store), caller, deps)}`, "/jobs");
}

export function registerJobs(app: Hono<Env>, deps: ConsoleDeps) {
  app.get("/jobs", signedIn(deps), async (c) => c.html(await jobsPage(deps, c.get("caller"))));
  app.post("/jobs/:name/runs", signedIn(deps), allowed("trigger_run"), async (c) => {
    const name = c.req.param("name");
    try {
      await triggerRun(deps, name, c.get("caller"));
      return c.html(await jobsPage(deps, c.get("caller"), notice("ok", `A run of ${name} was asked for; it starts as soon as a worker is free.`)), 202);
    } catch (e) {
      if (!(e instanceof FerryError)) throw e;
      return c.html(await jobsPage(deps, c.get("caller"), notice("error", e.message)), 400);
    }
  });
  for (const verb of ["pause", "resume"] as const) {
    app.post(`/jobs/:name/${verb}`, signedIn(deps), allowed("pause_schedule"), async (c) => {
      const name = c.req.param("name");
      try {
        const changed = await setPaused(deps.project, deps.store, name, verb === "pause", actorOf(c.get("caller")));
        const said = changed ? `The schedule of ${name} is ${verb === "pause" ? "paused" : "resumed"}.` : `The schedule of ${name} was already ${verb === "pause" ? "paused" : "running"}.`;
        return c.html(await jobsPage(deps, c.get("caller"), notice("ok", said)));
      } catch (e) {
        if (!(e instanceof FerryError)) throw e;
        return c.html(await jobsPage(deps, c.get("caller"), notice("error", e.message)), 404);
      }
    });
  }
  app.get("/destinations", signedIn(deps), async (c) => {
    const counts = await outboxCounts(deps.store.knex);
    const leases = new Map((await listLeases(deps.store.knex)).filter((l) => l.name.startsWith("deliver:")).map((l) => [l.name.slice(8), l]));
    const rows = await Promise.all(
      Object.keys(deps.project.config.destinations).map(async (name) => {
        const n = (status: string) => counts.find((x) => x.destination === name && x.status === status)?.n ?? 0;
        const last = (await deps.store.knex("outbox").where({ destination: name }).whereNotNull("last_error").orderBy("id", "desc").first("last_error", "status")) as { last_error: string } | undefined;
        return { name, pending: n("pending"), dead: n("dead"), delivered: n("delivered"), lease: leases.get(name), error: last?.last_error ?? null };
      }),
    );
    const open = await breakersOpen();
    const body = table(["Destination", "Pending", "Being delivered", "Breaker (this worker)", "Delivered", "Dead", "Last error"], rows, (r) => [
      text(r.name),
      text(r.pending),
      r.lease ? html`by worker ${r.lease.worker} since ${r.lease.acquired_at}` : text(null),
      open.has(r.name) ? html`<span class="bad">open</span>` : text("closed"),
      text(r.delivered),
      r.dead ? html`<a href="/dead-letters?destination=${r.name}">${r.dead}</a>` : text(0),
      text(r.error),
    ]);
    return c.html(page("Destinations", c.get("caller"), body, "/destinations"));
  });
  app.get("/audit", signedIn(deps), async (c) => {
    const rows = (await listAudit(deps.store.knex, { limit: 500, newestFirst: true })) as Record<string, unknown>[];
    const body = table(["When", "Who", "What", "Record", "Field", "Before", "After", "Details"], rows, (a) => [
      text(a.at),
      text(a.actor),
      text(a.action),
      auditSubject(deps, a),
      text(a.field),
      text(a.before),
      text(a.after),
      text(a.details),
    ]);
    return c.html(page("Audit", c.get("caller"), body, "/audit"));
  });
}
