/**
 * Reading records from the pages' HTML: rows by selector, fields relative to each row (one round trip per
 * page), fields from each record's own page, and pagination by a next link or by page numbers. A page
 * without rows, or a row without a required field, fails the run: in a snapshot, a short read is a delete.
 */
import type { Locator, Page } from "playwright";
import { FatalError } from "../../errors.ts";
import type { SourceBatch, SourceRow } from "../source.ts";
import type { RecipeRun } from "./recipe.ts";
import type { ExtractConfig, FieldSpec } from "./scrape.config.ts";
import { emptyPage, requiredFieldMissing, selectorNotFound } from "./scrape.errors.ts";

type Values = Record<string, string | null>;

interface FieldQuery {
  name: string;
  selector: string | null;
  attribute: string | null;
}

interface Field extends FieldQuery {
  frame: string | undefined;
  required: boolean;
  /** The selector as written, for messages. */
  shown: string;
}

/** A next "link" without an address (a button): it is clicked. */
const CLICK = "\u0000click";

/** The key of the details link among a row's values; no user field can be named so. */
const DETAILS = "\u0000details";

/** The DOM as this code needs it: tsconfig has no DOM library, and this runs in the browser. */
interface DomElement {
  querySelector(selector: string): DomElement | null;
  getAttribute(name: string): string | null;
  innerText?: string;
  textContent: string | null;
}

function compile(fields: Record<string, FieldSpec>): Field[] {
  return Object.entries(fields).map(([name, spec]) =>
    typeof spec === "string"
      ? { name, selector: spec, attribute: null, frame: undefined, required: false, shown: spec }
      : {
          name,
          selector: spec.selector ?? null,
          attribute: spec.attribute ?? null,
          frame: spec.frame,
          required: spec.required,
          shown: spec.selector ?? "(the row itself)",
        },
  );
}

/** Values of `queries` under each element of `locator`: trimmed text or attribute, null when absent. */
async function valuesUnder(locator: Locator, queries: readonly FieldQuery[]): Promise<Values[]> {
  const plain = queries.map(({ name, selector, attribute }) => ({ name, selector, attribute }));
  return locator.evaluateAll(
    (elements: DomElement[], qs: FieldQuery[]) =>
      elements.map((element) => {
        const out: Record<string, string | null> = {};
        for (const q of qs) {
          const target = q.selector ? element.querySelector(q.selector) : element;
          const raw = target === null ? null : q.attribute ? target.getAttribute(q.attribute) : (target.innerText ?? target.textContent);
          out[q.name] = raw === null ? null : raw.trim();
        }
        return out;
      }),
    plain,
  );
}

/** Fails on the first row that lacks a required field; a field absent from every row is a changed selector. */
function checkRequired(rows: readonly Values[], fields: readonly Field[], url: string, where: (i: number) => string) {
  for (const field of fields) {
    if (!field.required) continue;
    const missing = rows.findIndex((r) => !r[field.name]);
    if (missing < 0) continue;
    const name = field.name === DETAILS ? "details.link" : field.name;
    if (rows.every((r) => r[field.name] === null)) {
      const inRows = rows.length > 1 ? ` (in none of ${rows.length} rows)` : "";
      throw selectorNotFound(field.shown, url, `field "${name}"${inRows}`, { frame: field.frame });
    }
    throw requiredFieldMissing(name, where(missing), url);
  }
}

async function pageFields(page: Page, fields: readonly Field[]): Promise<Values> {
  const out: Values = {};
  const frames = [...new Set(fields.map((f) => f.frame))];
  for (const frame of frames) {
    const scope = frame ? page.locator(frame).first().contentFrame() : page;
    const [values] = await valuesUnder(scope.locator(":root"), fields.filter((f) => f.frame === frame));
    for (const f of fields) if (f.frame === frame) out[f.name] = values?.[f.name] ?? null;
  }
  return out;
}

async function lastPageNumber(page: Page, selector: string): Promise<number> {
  const texts = await page.locator(selector).allInnerTexts();
  const numbers = texts.map((t) => Number.parseInt(t.trim(), 10)).filter(Number.isFinite);
  return Math.max(1, ...numbers);
}

type Pagination = NonNullable<ExtractConfig["paginate"]>;

/** Where the page after `pageNo` is: a URL, CLICK (a next button without an address), or null at the end. */
async function nextPage(page: Page, paginate: Pagination, pageNo: number, lastPage: number, visited: Set<string>) {
  if (paginate.url) return pageNo < lastPage ? paginate.url.replaceAll("{page}", String(pageNo + 1)) : null;
  const next = page.locator(paginate.next!).first();
  if ((await next.count()) === 0) return null;
  const href = await next.getAttribute("href");
  if (!href || /^(#|javascript:)/i.test(href)) return CLICK;
  const link = new URL(href, page.url()).href;
  return visited.has(link) ? null : link;
}

export async function* extractRecords(run: RecipeRun, config: ExtractConfig, batchSize: number): AsyncGenerator<SourceBatch> {
  const { page, session, signal } = run;
  const fields = compile(config.fields);
  const detailFields = config.details ? compile(config.details.fields) : [];
  const columns = [...fields, ...detailFields].map((f) => f.name);
  const link: Field | null = config.details
    ? { name: DETAILS, selector: config.details.link, attribute: "href", frame: undefined, required: true, shown: config.details.link }
    : null;
  const queries = link ? [...fields, link] : fields;
  const detailsPage = link ? await session.context.newPage() : null;
  const visited = new Set<string>();
  let lastPage = 1;
  let rows: SourceRow[] = [];
  let line = 0;
  for (let pageNo = 1; ; pageNo++) {
    signal.throwIfAborted();
    const url = page.url();
    visited.add(url);
    const scope = config.frame ? page.locator(config.frame).first().contentFrame() : page;
    const found = await valuesUnder(scope.locator(config.rows), queries);
    if (found.length === 0 && !config.allow_empty) throw emptyPage(`page ${pageNo}`, url, config.rows);
    checkRequired(found, queries, url, (i) => `row ${i + 1}`);
    for (const values of found) {
      const { [DETAILS]: href, ...own } = values;
      let record: Values = own;
      if (detailsPage && href) {
        await session.load(detailsPage, new URL(href, url).href);
        const more = await pageFields(detailsPage, detailFields);
        checkRequired([more], detailFields, detailsPage.url(), () => "the details page");
        record = { ...own, ...more };
      }
      rows.push({ values: record, line: ++line });
      if (rows.length >= batchSize) {
        yield { rows, rejects: [], columns };
        rows = [];
      }
    }
    const paginate = config.paginate;
    if (!paginate) break;
    if (paginate.url && pageNo === 1) lastPage = await lastPageNumber(page, paginate.last_page!);
    const target = await nextPage(page, paginate, pageNo, lastPage, visited);
    if (target === null) break;
    if (pageNo >= paginate.max_pages) {
      throw new FatalError(
        "SOURCE_SCRAPE_PAGE_LIMIT",
        `read ${pageNo} pages and there are more (paginate.max_pages is ${paginate.max_pages}): raise max_pages if the list is that long, or check the pagination selectors; nothing was applied`,
      );
    }
    if (target === CLICK) await session.act(page, page.locator(paginate.next!).first(), paginate.next!);
    else await session.load(page, target);
  }
  if (rows.length > 0) yield { rows, rejects: [], columns };
}
