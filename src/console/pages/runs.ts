/**
 * Runs: the list, filtered by job, status and date; a run's page with its accounting, what it queued and
 * opened, its files, its error and where it came from; its rejected rows, searchable by key and downloadable
 * as CSV. A run in progress is polled (htmx) until it ends.
 */
import { stringify } from "csv-stringify/sync";
import type { Hono } from "hono";
import { html } from "hono/html";
import { type Env, signedIn } from "../auth/middleware.ts";
import type { ConsoleDeps } from "../deps.ts";
import { type Html, page, table, text, when } from "../html/layout.ts";
import { runDetail, type RunDetail, runFilterOf } from "../../operate/runs.ts";
import { COUNTERS, listRuns, type RunRow } from "../../state/runs.repo.ts";

const STATUSES = ["running", "succeeded", "partial", "failed", "refused", "abandoned"];

const statusCell = (status: string) => html`<span class="status-${status}">${status}</span>`;

function filters(q: Record<string, string | undefined>, jobs: readonly string[]): Html {
  const option = (value: string, current: string | undefined) => html`<option value="${value}" ${value === current ? "selected" : ""}>${value}</option>`;
  return html`<form class="filters" method="get" action="/runs">
    <label>Job <select name="job"><option value="">all</option>${jobs.map((j) => option(j, q.job))}</select></label>
    <label>Status <select name="status"><option value="">all</option>${STATUSES.map((s) => option(s, q.status))}</select></label>
    <label>From <input type="date" name="from" value="${q.from ?? ""}" /></label>
    <label>To <input type="date" name="to" value="${q.to ?? ""}" /></label>
    <button type="submit" class="secondary">Filter</button>
  </form>`;
}

function runsTable(runs: readonly RunRow[]): Html {
  return table(
    ["Run", "Job", "Status", "Started", "Finished", ...COUNTERS, "Error"],
    runs,
    (r) => [
      html`<a href="/runs/${r.id}">${r.id}</a>`,
      text(r.job),
      statusCell(r.status),
      when(r.started_at),
      when(r.finished_at),
      ...COUNTERS.map((c) => text(r[c])),
      text(r.error ? r.error.slice(0, 120) : null),
    ],
    "No run matches.",
  );
}

function detail(d: RunDetail): Html {
  const { run } = d;
  const identity = `read ${run.read} = unchanged ${run.unchanged} + changed ${run.changed} + rejected ${run.rejected} + filtered ${run.filtered}`;
  return html`<dl class="facts">
      <dt>Job</dt><dd>${run.job} (${run.mode})</dd>
      <dt>Status</dt><dd>${statusCell(run.status)}</dd>
      <dt>Started</dt><dd>${run.started_at}</dd>
      <dt>Finished</dt><dd>${text(run.finished_at)}</dd>
      <dt>Accounting</dt><dd class="${d.accounted ? "ok" : "bad"}">${identity}${d.accounted ? "" : " — does not hold"}</dd>
      <dt>Deletes</dt><dd>${run.deleted}</dd>
      <dt>Conflicts opened</dt><dd>${run.conflicts}${d.conflicts.length ? html` (now: ${d.conflicts.map((c) => `${c.status} ${c.n}`).join(", ")})` : ""}</dd>
      <dt>Queued for delivery</dt><dd>${run.outbox}</dd>
      ${d.error ? html`<dt>Error</dt><dd class="bad"><code>${d.error.code ?? "?"}</code> from the ${d.error.origin}: ${d.error.message}</dd>` : ""}
    </dl>
    <h2>Delivery of what it queued</h2>
    ${table(["Destination", "Status", "Records"], d.outbox, (o) => [text(o.destination), text(o.status), text(o.n)], "It queued nothing.")}
    ${d.files.length ? html`<h2>Files</h2>${table(["File", "Outcome", "Size", "Taken", "Reason"], d.files, (f) => [text(f.name), text(f.outcome), text(f.size), text(f.processedAt), text(f.reason)])}` : ""}`;
}

function rejectsSection(d: RunDetail, key: string | undefined): Html {
  return html`<h2 id="rejects">Rejected rows</h2>
    <form class="filters" method="get" action="/runs/${d.run.id}#rejects">
      <label>Key contains <input name="key" value="${key ?? ""}" /></label>
      <button type="submit" class="secondary">Search</button>
      <a href="/runs/${d.run.id}/rejects.csv">Download as CSV</a>
    </form>
    ${table(["Line", "Key", "Code", "Reason"], d.rejects, (r) => [text(r.line), text(r.key), html`<code>${r.code}</code>`, text(r.reason)], "No rejected row.")}`;
}

const LEVELS: Record<number, string> = { 30: "info", 40: "warn", 50: "error", 60: "fatal" };

function logSection(d: RunDetail): Html {
  return html`<h2>Log</h2>
    ${table(["Time", "Level", "Message", "Details"], d.log, (l) => [text(l.at), html`<span class="${l.level >= 50 ? "bad" : ""}">${LEVELS[l.level] ?? l.level}</span>`, text(l.msg), html`<code>${l.fields ?? ""}</code>`], "No line kept for this run.")}`;
}

export function registerRuns(app: Hono<Env>, deps: ConsoleDeps) {
  app.get("/", (c) => c.redirect("/runs"));
  app.get("/runs", signedIn(deps), async (c) => {
    const q = c.req.query();
    const runs = await listRuns(deps.store.knex, runFilterOf(q));
    return c.html(page("Runs", c.get("caller"), html`${filters(q, [...deps.project.jobs.keys()])}${runsTable(runs)}`, "/runs"));
  });
  app.get("/runs/:id{[0-9]+}", signedIn(deps), async (c) => {
    const key = c.req.query("key") || undefined;
    const d = await runDetail(deps.store, Number(c.req.param("id")), key ? { rejectKey: key } : {});
    if (!d) return c.html(page("No such run", c.get("caller"), html`<p>There is no run ${c.req.param("id")}.</p>`), 404);
    // A run in progress refreshes itself every 2 s until it ends.
    const poll = d.run.status === "running" ? html`hx-get="/runs/${d.run.id}" hx-trigger="every 2s" hx-select="#run" hx-target="#run" hx-swap="outerHTML"` : "";
    const body = html`<div id="run" ${poll}>${detail(d)}${rejectsSection(d, key)}${logSection(d)}</div>`;
    return c.html(page(`Run ${d.run.id} of ${d.run.job}`, c.get("caller"), body, "/runs"));
  });
  app.get("/runs/:id{[0-9]+}/rejects.csv", signedIn(deps), async (c) => {
    const d = await runDetail(deps.store, Number(c.req.param("id")), { rejectLimit: 1_000_000 });
    if (!d) return c.text("no such run", 404);
    const csv = stringify(d.rejects, { header: true, columns: ["line", "key", "code", "reason"] });
    c.header("Content-Disposition", `attachment; filename="run-${d.run.id}-rejects.csv"`);
    return c.body(csv, 200, { "Content-Type": "text/csv; charset=utf-8" });
  });
}
