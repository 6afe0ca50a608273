/**
 * The conflicts queue: open conflicts filtered by entity, field and source, each with the current value and
 * every candidate (source, time, rule), linked to the record's page; an operator settles a selection at
 * once: take a source's value, keep the current one, or enter a value. Resolved conflicts show who decided.
 */
import type { Hono } from "hono";
import { html } from "hono/html";
import { resolveConflicts, type Settled } from "../../operate/resolve.ts";
import { type ConflictRow, listConflicts } from "../../state/conflicts.repo.ts";
import { allowed, type Env, signedIn } from "../auth/middleware.ts";
import { can } from "../auth/roles.ts";
import { actorOf, type Caller, type ConsoleDeps } from "../deps.ts";
import { csrfField, type Html, inPlace, notice, page, recordLink, table, text } from "../html/layout.ts";

export interface ConflictQuery {
  status?: string;
  entity?: string;
  field?: string;
  source?: string;
}

/** Conflicts matching a query (open by default). One reading for the page and the API. */
export async function findConflicts(deps: ConsoleDeps, q: ConflictQuery): Promise<ConflictRow[]> {
  const rows = await listConflicts(deps.store.knex, { status: q.status || "open", ...(q.entity ? { entity: q.entity } : {}), limit: 5000 });
  return rows.filter(
    (r) =>
      (!q.field || r.field === q.field) &&
      (!q.source || r.current.source === q.source || r.candidates.some((c) => c.source === q.source)),
  );
}

function candidates(r: ConflictRow): Html {
  return html`<ul class="candidates">${r.candidates.map(
    (c) => html`<li><strong>${c.source}</strong>: ${text(c.value)} <span class="empty">(${c.sourceTime ?? c.observedAt})</span></li>`,
  )}</ul>`;
}

function openTable(rows: readonly ConflictRow[], caller: Caller): Html {
  const mayResolve = can(caller.role, "resolve_conflict");
  const sources = [...new Set(rows.flatMap((r) => r.candidates.map((c) => c.source)))].sort();
  const list = table(
    [...(mayResolve ? [""] : []), "#", "Record", "Field", "Current", "Candidates", "Opened"],
    rows,
    (r) => [
      ...(mayResolve ? [html`<input type="checkbox" name="ids" value="${r.id}" aria-label="select conflict ${r.id}" />`] : []),
      text(r.id),
      recordLink(r.entity, r.key),
      text(r.field),
      html`${text(r.current.value)} <span class="empty">(${r.current.source})</span>`,
      candidates(r),
      text(r.opened_at),
    ],
    "No open conflict matches.",
  );
  if (!mayResolve || rows.length === 0) return list;
  return html`<form method="post" action="/conflicts/resolve" id="resolve" ${inPlace("/conflicts/resolve")}>
    ${csrfField(caller)}${list}
    <div class="actions">
      <label>Take the value of <select name="use">${sources.map((s) => html`<option value="${s}">${s}</option>`)}</select></label>
      <button type="submit" name="action" value="use">Take it for the selection</button>
      <button type="submit" name="action" value="keep" class="secondary">Keep the current values</button>
      <label>Or enter a value <input name="value" /></label>
      <button type="submit" name="action" value="value" class="secondary">Set it</button>
    </div>
  </form>`;
}

function resolvedTable(rows: readonly ConflictRow[]): Html {
  return table(["#", "Record", "Field", "Status", "Decided by", "Value", "Taken from", "At"], rows, (r) => [
    text(r.id),
    recordLink(r.entity, r.key),
    text(r.field),
    text(r.resolution?.reason ? `${r.status}: ${String(r.resolution.reason)}` : r.status),
    text(r.resolution?.by),
    text(r.resolution?.value),
    text(r.resolution?.source),
    text(r.closed_at),
  ]);
}

function filters(q: ConflictQuery): Html {
  return html`<form class="filters" method="get" action="/conflicts">
    <label>Status <select name="status">${["open", "resolved", "closed"].map((s) => html`<option ${s === (q.status || "open") ? "selected" : ""}>${s}</option>`)}</select></label>
    <label>Entity <input name="entity" value="${q.entity ?? ""}" /></label>
    <label>Field <input name="field" value="${q.field ?? ""}" /></label>
    <label>Source <input name="source" value="${q.source ?? ""}" /></label>
    <button type="submit" class="secondary">Filter</button>
  </form>`;
}

const outcomeNotice = (settled: readonly Settled[]) => {
  const done = settled.filter((s) => s.ok).length;
  const failed = settled.filter((s): s is Extract<Settled, { ok: false }> => !s.ok);
  return html`${done ? notice("ok", `${done} conflict(s) resolved.`) : ""}${failed.map((f) => notice("error", `#${f.id}: ${f.error}`))}`;
};

export function registerConflicts(app: Hono<Env>, deps: ConsoleDeps) {
  app.get("/conflicts", signedIn(deps), async (c) => {
    const q = c.req.query() as ConflictQuery;
    const rows = await findConflicts(deps, q);
    const caller = c.get("caller");
    const body = (q.status || "open") === "open" ? openTable(rows, caller) : resolvedTable(rows);
    return c.html(page("Conflicts", caller, html`${filters(q)}${body}`, "/conflicts"));
  });
  app.post("/conflicts/resolve", signedIn(deps), allowed("resolve_conflict"), async (c) => {
    const form = await c.req.parseBody({ all: true });
    const ids = [form.ids ?? []].flat().map(Number).filter((n) => Number.isInteger(n) && n > 0);
    const action = String(form.action ?? "");
    const decision = action === "keep" ? { keep: true as const } : action === "value" ? { value: String(form.value ?? "") } : { use: String(form.use ?? "") };
    const caller = c.get("caller");
    const settled = ids.length === 0 ? [] : await resolveConflicts(deps.project, deps.store, ids, decision, actorOf(caller));
    const rows = await findConflicts(deps, {});
    const message = ids.length === 0 ? notice("error", "Select at least one conflict.") : outcomeNotice(settled);
    return c.html(page("Conflicts", caller, html`${message}${filters({})}${openTable(rows, caller)}`, "/conflicts"), ids.length === 0 ? 400 : 200);
  });
}
