/**
 * The console's page shell: the navigation, the signed-in user, and the page's content. Everything is
 * rendered with hono/html's `html` template, which escapes every value put into it: a record value that
 * holds `<script>` shows as text. `raw` is used only for Ferry's own markup.
 */
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { Caller } from "../deps.ts";

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const NAV = [
  ["/runs", "Runs"],
  ["/conflicts", "Conflicts"],
  ["/dead-letters", "Dead letters"],
  ["/jobs", "Jobs"],
  ["/destinations", "Destinations"],
  ["/audit", "Audit"],
] as const;

export function page(title: string, caller: Caller | null, body: Html, current = ""): Html {
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${title} · Ferry</title>
    <link rel="stylesheet" href="/static/style.css" />
    <script src="/static/htmx.min.js" defer></script>
  </head>
  <body>
    <header>
      <a class="brand" href="/runs">Ferry</a>
      ${caller
        ? html`<nav>${NAV.map(([href, label]) => html`<a href="${href}" ${current === href ? html`aria-current="page"` : ""}>${label}</a>`)}</nav>
            <form class="whoami" method="post" action="/logout">
              ${csrfField(caller)}<span>${caller.name} (${caller.role})</span> <button type="submit">Sign out</button>
            </form>`
        : ""}
    </header>
    <main>
      <h1>${title}</h1>
      ${body}
    </main>
  </body>
</html>`;
}

/** The per-session token every form carries. */
export const csrfField = (caller: Caller | null) => (caller?.csrf ? html`<input type="hidden" name="_csrf" value="${caller.csrf}" />` : "");

/** A table of rows; `cells` renders one row's cells. An empty list says so. */
export function table<T>(headers: readonly string[], rows: readonly T[], cells: (row: T) => Html[], empty = "Nothing here."): Html {
  if (rows.length === 0) return html`<p class="empty">${empty}</p>`;
  return html`<table>
    <thead><tr>${headers.map((h) => html`<th>${h}</th>`)}</tr></thead>
    <tbody>${rows.map((r) => html`<tr>${cells(r).map((c) => html`<td>${c}</td>`)}</tr>`)}</tbody>
  </table>`;
}

/** A link to a record's page (src/console/pages/records.ts). */
export const recordLink = (entity: string, key: string): Html =>
  html`<a href="/records/${encodeURIComponent(entity)}/${encodeURIComponent(key)}">${entity} ${key}</a>`;

/** A value as text, null and undefined as a dash. */
export const text = (v: unknown): Html => html`${v === null || v === undefined || v === "" ? "–" : typeof v === "object" ? JSON.stringify(v) : String(v)}`;

/**
 * A time (ISO 8601 text) that a narrow column breaks only between its date and its time of day, never at a
 * hyphen; its text is unchanged. Null as a dash.
 */
export function when(v: string | null | undefined): Html {
  if (!v) return text(null);
  const at = v.indexOf("T");
  if (at < 0) return html`<time datetime="${v}"><span>${v}</span></time>`;
  return html`<time datetime="${v}"><span>${v.slice(0, at)}</span><wbr /><span>${v.slice(at)}</span></time>`;
}

/** A notice above the page's content: an error or a confirmation. */
export const notice = (kind: "error" | "ok", message: string): Html => html`<p class="notice ${kind}" role="${kind === "error" ? "alert" : "status"}">${message}</p>`;

/**
 * The attributes that make an action's form submit in place with htmx: the answer's <main> replaces the
 * page's. Without JavaScript the form posts and the answer is shown as a page.
 */
export const inPlace = (action: string): Html => html`hx-post="${action}" hx-target="main" hx-select="main" hx-swap="outerHTML"`;
