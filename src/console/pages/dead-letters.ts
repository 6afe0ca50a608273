/**
 * Dead letters by destination and reason: each with the request and the answer (credentials are scrubbed
 * when an entry is written, so none can show); an operator replays or discards one, a selection, or every
 * open one of a destination. The same operations as `ferry dlq`.
 */
import type { Hono } from "hono";
import { html } from "hono/html";
import { discardDeadLetters, replayDeadLetters, type Selection } from "../../operate/dead-letters.ts";
import { type DeadLetter, getDeadLetter, listDeadLetters } from "../../state/dead-letters.repo.ts";
import { FerryError } from "../../errors.ts";
import { type Env, forbidden, signedIn } from "../auth/middleware.ts";
import { can } from "../auth/roles.ts";
import { actorOf, type Caller, type ConsoleDeps } from "../deps.ts";
import { csrfField, type Html, inPlace, notice, page, recordLink, table, text, when } from "../html/layout.ts";

/** Open dead letters, by destination and reason (the reason's text contains `reason`). */
export async function findDeadLetters(deps: ConsoleDeps, q: { destination?: string; reason?: string }): Promise<DeadLetter[]> {
  const rows = await listDeadLetters(deps.store.knex, { ...(q.destination ? { destination: q.destination } : {}), limit: 5000 });
  return q.reason ? rows.filter((r) => r.reason.includes(q.reason!) || r.code === q.reason) : rows;
}

function list(rows: readonly DeadLetter[], caller: Caller, q: { destination?: string }): Html {
  const may = can(caller.role, "replay_dead_letter");
  const t = table(
    [...(may ? [""] : []), "#", "Destination", "Record", "Code", "Reason", "Attempts", "Dead since"],
    rows,
    (d) => [
      ...(may ? [html`<input type="checkbox" name="ids" value="${d.id}" aria-label="select entry ${d.id}" />`] : []),
      html`<a href="/dead-letters/${d.id}">${d.id}</a>`,
      text(d.destination),
      recordLink(d.entity, d.key),
      html`<code>${d.code}</code>`,
      text(d.reason),
      text(d.attempts),
      when(d.dead_at),
    ],
    "No open dead letter.",
  );
  if (!may || rows.length === 0) return t;
  return html`<form method="post" action="/dead-letters/act" ${inPlace("/dead-letters/act")}>${csrfField(caller)}
    <input type="hidden" name="destination" value="${q.destination ?? ""}" />
    ${t}
    <div class="actions">
      <button type="submit" name="action" value="replay">Replay the selection</button>
      <button type="submit" name="action" value="discard" class="danger">Discard the selection</button>
      ${q.destination ? html`<button type="submit" name="action" value="replay-all" class="secondary">Replay all of ${q.destination}</button>` : ""}
    </div>
  </form>`;
}

function filters(deps: ConsoleDeps, q: { destination?: string; reason?: string }): Html {
  const names = Object.keys(deps.project.config.destinations);
  return html`<form class="filters" method="get" action="/dead-letters">
    <label>Destination <select name="destination"><option value="">all</option>${names.map((n) => html`<option ${n === q.destination ? "selected" : ""}>${n}</option>`)}</select></label>
    <label>Reason or code <input name="reason" value="${q.reason ?? ""}" /></label>
    <button type="submit" class="secondary">Filter</button>
  </form>`;
}

/** Runs the action of a form or an API call on a selection; the entries acted on, or the error. */
export async function actOnDeadLetters(deps: ConsoleDeps, action: string, selection: Selection, caller: Caller) {
  const op = action.startsWith("discard") ? discardDeadLetters : replayDeadLetters;
  return op(deps.store, selection, actorOf(caller));
}

export function registerDeadLetters(app: Hono<Env>, deps: ConsoleDeps) {
  app.get("/dead-letters", signedIn(deps), async (c) => {
    const q = c.req.query();
    const rows = await findDeadLetters(deps, q);
    return c.html(page("Dead letters", c.get("caller"), html`${filters(deps, q)}${list(rows, c.get("caller"), q)}`, "/dead-letters"));
  });
  app.get("/dead-letters/:id{[0-9]+}", signedIn(deps), async (c) => {
    const d = await getDeadLetter(deps.store.knex, Number(c.req.param("id")));
    if (!d) return c.html(page("No such entry", c.get("caller"), html`<p>No dead letter ${c.req.param("id")}.</p>`), 404);
    const body = html`<dl class="facts">
        <dt>Destination</dt><dd>${d.destination}</dd><dt>Record</dt><dd>${d.entity} ${d.key} (version ${d.version})</dd>
        <dt>Code</dt><dd><code>${d.code}</code></dd><dt>Reason</dt><dd>${d.reason}</dd><dt>Attempts</dt><dd>${d.attempts}</dd>
        <dt>Dead since</dt><dd>${d.dead_at}</dd><dt>Resolution</dt><dd>${text(d.resolution ? `${d.resolution} by ${d.resolved_by} at ${d.resolved_at}` : null)}</dd>
      </dl>
      <h2>Request</h2><pre>${JSON.stringify(d.request, null, 2)}</pre>
      <h2>Answer</h2><pre>${JSON.stringify(d.response, null, 2)}</pre>`;
    return c.html(page(`Dead letter ${d.id}`, c.get("caller"), body, "/dead-letters"));
  });
  app.post("/dead-letters/act", signedIn(deps), async (c) => {
    const form = await c.req.parseBody({ all: true });
    const action = String(form.action ?? "");
    // The form's button says which: discarding and replaying are allowed apart.
    const needed = action.startsWith("discard") ? "discard_dead_letter" : "replay_dead_letter";
    if (!can(c.get("caller").role, needed)) return forbidden(c, needed);
    const ids = [form.ids ?? []].flat().map(Number).filter((n) => Number.isInteger(n) && n > 0);
    const destination = String(form.destination ?? "") || undefined;
    const selection: Selection = action === "replay-all" ? { ...(destination ? { destination } : {}) } : { ids };
    let message: Html;
    try {
      const done = await actOnDeadLetters(deps, action, selection, c.get("caller"));
      message = notice("ok", `${done.length} entr${done.length === 1 ? "y" : "ies"} ${action.startsWith("discard") ? "discarded" : "put back for delivery"}.`);
    } catch (e) {
      if (!(e instanceof FerryError)) throw e;
      message = notice("error", e.message);
    }
    const q = destination ? { destination } : {};
    const rows = await findDeadLetters(deps, q);
    return c.html(page("Dead letters", c.get("caller"), html`${message}${filters(deps, q)}${list(rows, c.get("caller"), q)}`, "/dead-letters"));
  });
}
