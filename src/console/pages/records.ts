/**
 * A record's page (`explain`): every field's value with its source, rule, run and time; what each source
 * says; what was pushed where and when; its conflicts and its audit trail.
 */
import type { Hono } from "hono";
import { html } from "hono/html";
import type { GoldenField } from "../../engine/types.ts";
import { explain } from "../../operate/explain.ts";
import { type Env, signedIn } from "../auth/middleware.ts";
import type { ConsoleDeps } from "../deps.ts";
import { type Html, page, table, text, when } from "../html/layout.ts";

type Explained = NonNullable<Awaited<ReturnType<typeof explain>>>;

function fields(r: Explained): Html {
  const rows = Object.entries(r.fields).filter((e): e is [string, GoldenField] => e[1] !== undefined);
  return table(["Field", "Value", "Source", "Rule", "Run", "Since", ""], rows, ([name, f]) => [
    text(name),
    text(f.value),
    text(f.source),
    text(f.rule),
    /^\d+$/.test(f.run) ? html`<a href="/runs/${f.run}">${f.run}</a>` : text(f.run),
    when(f.sourceTime ?? f.at),
    f.conflicted ? html`<span class="bad">conflict open</span>` : text(null),
  ]);
}

function body(r: Explained): Html {
  return html`<p>Version ${r.version}, ${r.status}.</p>
    <h2>Fields</h2>${fields(r)}
    <h2>What each source says</h2>
    ${table(["Source", "Values", "Source time", "Seen", "Run"], r.sources, (s) => [text(s.source), html`<code class="values">${JSON.stringify(s.values)}</code>`, when(s.sourceTime), when(s.observedAt), html`<a href="/runs/${s.run}">${s.run}</a>`])}
    <h2>Pushed</h2>
    ${table(["Destination", "Remote id", "Version", "When", "Values"], r.destinations, (d) => [text(d.destination), text(d.remoteId), text(d.version), when(d.pushedAt), html`<code class="values">${JSON.stringify(d.pushed)}</code>`], "Never pushed.")}
    <h2>Outbox</h2>
    ${table(["#", "Destination", "Version", "Operation", "Status", "Attempts", "Last error"], r.outbox, (o) => [text(o.id), text(o.destination), text(o.version), text(o.op), text(o.status), text(o.attempts), text(o.error)], "Nothing queued.")}
    <h2>Conflicts</h2>
    ${table(["#", "Field", "Status", "Current", "Opened"], r.conflicts, (c) => [text(c.id), text(c.field), text(c.status), text(c.current.value), text(c.opened_at)], "None.")}
    <h2>Audit</h2>
    ${table(["When", "Who", "What", "Field", "Before", "After"], r.audit as Record<string, unknown>[], (a) => [text(a.at), text(a.actor), text(a.action), text(a.field), text(a.before), text(a.after)], "No decision recorded.")}`;
}

export function registerRecords(app: Hono<Env>, deps: ConsoleDeps) {
  app.get("/records", signedIn(deps), (c) => {
    const entity = c.req.query("entity");
    const key = c.req.query("key");
    if (entity && key) return c.redirect(`/records/${encodeURIComponent(entity)}/${encodeURIComponent(key)}`);
    const form = html`<form class="filters" method="get" action="/records">
      <label>Entity <select name="entity">${[...deps.project.mappings.keys()].map((e) => html`<option>${e}</option>`)}</select></label>
      <label>Key <input name="key" required /></label>
      <button type="submit" class="secondary">Show</button>
    </form>`;
    return c.html(page("Records", c.get("caller"), form));
  });
  app.get("/records/:entity/:key", signedIn(deps), async (c) => {
    const { entity, key } = c.req.param();
    const r = await explain(deps.store, entity, key);
    if (!r) return c.html(page("No such record", c.get("caller"), html`<p>There is no ${entity} with key ${key}.</p>`), 404);
    return c.html(page(`${entity} ${key}`, c.get("caller"), body(r)));
  });
}
