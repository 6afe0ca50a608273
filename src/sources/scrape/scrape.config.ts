import { z } from "zod";
import { secretRef } from "../../config/secrets.ts";
import { csvSourceSchema } from "../csv/csv.config.ts";

const selector = z.string().min(1);
const frame = selector
  .optional()
  .describe("An iframe (CSS selector) to act in, instead of the page itself.");

export const STEP_ACTIONS = ["goto", "click", "fill", "select", "wait_for", "wait_for_network", "script"] as const;

const step = z
  .strictObject({
    goto: z.string().min(1).optional().describe("Open this URL, relative to base_url."),
    click: selector.optional().describe("Click the element; waits for the page it opens to load."),
    fill: selector.optional().describe("Type `value` into this input."),
    select: selector.optional().describe("Choose the option whose value or label is `value` in this <select>."),
    wait_for: selector.optional().describe("Wait until this element is visible."),
    wait_for_network: z
      .literal("idle")
      .optional()
      .describe("Wait until the page has made no request for 500 ms."),
    script: z
      .string()
      .min(1)
      .optional()
      .describe("A TypeScript module, relative to ferry.yaml, whose default export is `async (page, context) => void`."),
    value: z.string().optional().describe("The text for `fill`, the option for `select`."),
    frame,
  })
  .superRefine((s, ctx) => {
    const actions = STEP_ACTIONS.filter((a) => s[a] !== undefined);
    if (actions.length !== 1) {
      ctx.addIssue({
        code: "custom",
        message:
          actions.length === 0
            ? `a step needs one action: ${STEP_ACTIONS.join(", ")}`
            : `a step takes one action, this one has ${actions.join(" and ")}: split it into ${actions.length} steps`,
      });
    }
    if ((s.fill !== undefined || s.select !== undefined) && s.value === undefined) {
      ctx.addIssue({ code: "custom", path: ["value"], message: `\`${s.fill ? "fill" : "select"}\` needs a \`value\`` });
    }
    if (s.value !== undefined && s.fill === undefined && s.select === undefined) {
      ctx.addIssue({ code: "custom", path: ["value"], message: "`value` only applies to fill and select" });
    }
    if (s.frame !== undefined && (s.goto ?? s.script ?? s.wait_for_network) !== undefined) {
      ctx.addIssue({ code: "custom", path: ["frame"], message: "`frame` applies to click, fill, select and wait_for" });
    }
  });

const field = z.union([
  selector.describe("A CSS selector; the field is the element's text, trimmed."),
  z.strictObject({
    selector: selector
      .optional()
      .describe("A CSS selector, relative to the row (or the page, for details); omit it for the row itself."),
    attribute: z.string().min(1).optional().describe("Take this attribute (href, title, data-id...) instead of the text."),
    frame: selector.optional().describe("Details fields only: an iframe of the details page holding the element."),
    required: z
      .boolean()
      .default(false)
      .describe("A row without this field fails the run instead of being applied (use it for the key)."),
  }),
]);

const fields = z
  .record(z.string().min(1), field)
  .refine((f) => Object.keys(f).length > 0, "list at least one field")
  .describe("Column name: where its value is. Values come out as trimmed text; the mapping types them.");

const pagination = z
  .strictObject({
    next: selector.optional().describe("The link or button to the next page; the last page is the one without it."),
    url: z
      .string()
      .min(1)
      .optional()
      .describe("Numbered pages: the URL of page {page}, e.g. /customers?page={page}. The open page is page 1."),
    last_page: selector
      .optional()
      .describe("With `url`: elements whose numbers give the last page, e.g. the pager's links."),
    max_pages: z
      .number()
      .int()
      .min(1)
      .default(100)
      .describe("Fail the run rather than read more pages than this."),
  })
  .superRefine((p, ctx) => {
    if ((p.next === undefined) === (p.url === undefined)) {
      ctx.addIssue({ code: "custom", message: "pagination takes either `next` (a link) or `url` (numbered pages)" });
    }
    if (p.url !== undefined && !p.url.includes("{page}")) {
      ctx.addIssue({ code: "custom", path: ["url"], message: "the URL needs a {page} placeholder" });
    }
    if (p.url !== undefined && p.last_page === undefined) {
      ctx.addIssue({ code: "custom", path: ["last_page"], message: "numbered pages need `last_page`" });
    }
  });

export const extractSchema = z.strictObject({
  rows: selector.describe("A CSS selector matching one element per record, e.g. table#customers tbody tr."),
  frame: selector.optional().describe("An iframe holding the rows."),
  fields,
  details: z
    .strictObject({
      link: selector.describe("A link inside the row (CSS selector) to each record's own page."),
      fields,
    })
    .optional()
    .describe("Fields read from each record's own page (one page load per record)."),
  paginate: pagination.optional(),
  allow_empty: z
    .boolean()
    .default(false)
    .describe("Accept a page without rows. Off: such a page fails the run, so a broken page never deletes everything."),
});

export const exportSchema = z.strictObject({
  click: selector.describe("The export button or link; what it downloads is read as CSV."),
  frame,
  csv: csvSourceSchema
    .omit({ type: true, path: true })
    .prefault({})
    .describe("How to read the downloaded file (delimiter, quote, encoding, header, columns)."),
});

export const scrapeSourceSchema = z
  .strictObject({
    type: z.literal("scrape"),
    base_url: z.string().min(1).describe("The app's address, e.g. https://erp.example.com; recipe URLs are relative to it."),
    browser: z
      .strictObject({
        executable_path: z
          .string()
          .min(1)
          .optional()
          .describe("Chromium to run (default: $FERRY_CHROMIUM_PATH, else Playwright's own, else chromium on PATH)."),
        timeout_ms: z
          .number()
          .int()
          .min(100)
          .default(15_000)
          .describe("Limit of every page load, action and download, in milliseconds."),
      })
      .prefault({}),
    page_loads_per_second: z
      .number()
      .positive()
      .max(100)
      .default(2)
      .describe("Rate limit of page loads (navigations and clicks), to spare the legacy server."),
    retries: z
      .strictObject({
        attempts: z.number().int().min(1).max(10).default(3).describe("Tries of a page load that fails or times out."),
        backoff_ms: z.number().int().min(0).default(1000).describe("Wait before the second try; doubles each try."),
      })
      .prefault({}),
    login: z
      .strictObject({
        url: z.string().min(1).describe("The login page, relative to base_url."),
        username: secretRef,
        password: secretRef,
        username_field: selector.describe("The user name input, e.g. #username."),
        password_field: selector.describe("The password input; seeing it again later means the session expired."),
        submit: selector.describe("The button that sends the form."),
        success: selector.describe("An element shown only once signed in, e.g. a logout link."),
        error: selector.optional().describe("An element shown on a refused login, to fail at once."),
      })
      .optional(),
    steps: z.array(step).default([]).describe("What to do after login: goto, click, fill, select, wait_for..."),
    extract: extractSchema.optional().describe("Read records from the pages' HTML."),
    export: exportSchema.optional().describe("Or: click the app's export button and read the CSV it downloads."),
  })
  .superRefine((s, ctx) => {
    if (s.extract === undefined && s.export === undefined) {
      ctx.addIssue({ code: "custom", message: "a scrape source needs `extract` (read the pages) or `export` (download a CSV)" });
    }
    if (s.extract !== undefined && s.export !== undefined) {
      ctx.addIssue({ code: "custom", path: ["export"], message: "a scrape source takes `extract` or `export`, not both" });
    }
  });

export type ScrapeSourceConfig = z.output<typeof scrapeSourceSchema>;
export type ScrapeStep = ScrapeSourceConfig["steps"][number];
export type ExtractConfig = z.output<typeof extractSchema>;
export type ExportConfig = z.output<typeof exportSchema>;
export type FieldSpec = z.output<typeof field>;
export type LoginConfig = NonNullable<ScrapeSourceConfig["login"]>;
