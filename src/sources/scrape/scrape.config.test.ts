import assert from "node:assert/strict";
import { test } from "node:test";
import type { z } from "zod";
import { configSchemas } from "../../project.ts";
import type { ScrapeSourceConfig } from "./scrape.config.ts";
import { type ConfigIssue, parseConfigFile } from "../../config/yaml.ts";
import { ConfigError } from "../../errors.ts";

/** The job schema built from the registry; the source block typed as this connector's own. */
const jobSchema = configSchemas().job as unknown as z.ZodType<{ source: ScrapeSourceConfig }>;

const job = (source: string, extra = "") => `source:
  type: scrape
  base_url: http://legacy.local
${source}mapping: customer
as: web
${extra}`;

const extract = "  extract: { rows: tr.customer, fields: { no: { selector: td.id, required: true } } }\n";

function issuesOf(text: string): string[] {
  try {
    parseConfigFile("jobs/web.yaml", text, jobSchema);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return (error.details.issues as ConfigIssue[]).map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
  }
  assert.fail("expected a ConfigError");
}

test("a complete recipe parses, with the defaults filled in", () => {
  const parsed = parseConfigFile(
    "jobs/web.yaml",
    job(`  login:
    url: /login
    username: \${env:LEGACY_USER}
    password: \${file:secrets/legacy-password}
    username_field: "#username"
    password_field: "#password"
    submit: "#sign-in"
    success: "#logout"
  steps:
    - goto: /customers
    - select: "#region"
      value: EU
  extract:
    rows: tr.customer
    fields:
      no: { selector: td.id, required: true }
      email: { selector: td.email a, attribute: href }
      name: td.name
    paginate: { next: a.next }
`),
    jobSchema,
  );
  assert.equal(parsed.source.type, "scrape");
  if (parsed.source.type !== "scrape") return;
  assert.deepEqual(parsed.source.browser, { timeout_ms: 15_000 });
  assert.equal(parsed.source.page_loads_per_second, 2);
  assert.deepEqual(parsed.source.retries, { attempts: 3, backoff_ms: 1000 });
  assert.equal(parsed.source.extract?.paginate?.max_pages, 100);
  assert.equal(parsed.source.extract?.allow_empty, false);
  assert.deepEqual(parsed.source.extract?.fields.email, { selector: "td.email a", attribute: "href", required: false });
});

test("an export recipe gets the CSV parser's defaults", () => {
  const parsed = parseConfigFile("jobs/web.yaml", job("  export: { click: \"#export\" }\n"), jobSchema);
  assert.ok(parsed.source.type === "scrape");
  assert.deepEqual(parsed.source.export?.csv, { delimiter: ",", quote: "\"", encoding: "utf8", header: true });
});

test("credentials must be references, and their value is never echoed", () => {
  const issues = issuesOf(
    job(`  login: { url: /login, username: admin, password: hunter2, username_field: "#u", password_field: "#p", submit: "#go", success: "#out" }
${extract}`),
  );
  assert.equal(issues.length, 2);
  assert.match(issues[0]!, /^4:\d+ source\.login\.username: a literal secret is not allowed here: write a reference such as/);
  assert.match(issues[1]!, /source\.login\.password: a literal secret is not allowed here/);
  assert.ok(issues.every((i) => !i.includes("hunter2") && !i.includes("admin")));
});

test("a step takes exactly one action, named in the message", () => {
  assert.deepEqual(issuesOf(job(`  steps:\n    - goto: /customers\n    - click: "#a"\n      wait_for: "#b"\n${extract}`)), [
    "6:7 source.steps[1]: a step takes one action, this one has click and wait_for: split it into 2 steps",
  ]);
  assert.deepEqual(issuesOf(job(`  steps:\n    - clik: "#a"\n${extract}`)), [
    "5:7 source.steps[0].clik: unknown key \"clik\" (did you mean \"click\"?); allowed keys: goto, click, fill, select, wait_for, wait_for_network, script, value, frame",
    "5:7 source.steps[0]: a step needs one action: goto, click, fill, select, wait_for, wait_for_network, script",
  ]);
  assert.deepEqual(issuesOf(job(`  steps:\n    - fill: "#q"\n${extract}`)), ["5:7 source.steps[0].value: `fill` needs a `value`"]);
});

test("extract or export, one of them", () => {
  assert.deepEqual(issuesOf(job("")), [
    "1:1 source: a scrape source needs `extract` (read the pages) or `export` (download a CSV)",
  ]);
  assert.deepEqual(issuesOf(job(`${extract}  export: { click: "#x" }\n`)), [
    "5:11 source.export: a scrape source takes `extract` or `export`, not both",
  ]);
});

test("pagination is a next link or numbered pages, each complete", () => {
  const paginate = (p: string) => job(`  extract:\n    rows: tr\n    fields: { no: td.id }\n    paginate: ${p}\n`);
  assert.deepEqual(issuesOf(paginate("{ next: a.next, url: /c }")), [
    "7:15 source.extract.paginate: pagination takes either `next` (a link) or `url` (numbered pages)",
    "7:15 source.extract.paginate.last_page: numbered pages need `last_page`",
    "7:36 source.extract.paginate.url: the URL needs a {page} placeholder",
  ]);
  assert.deepEqual(issuesOf(paginate("{ url: \"/c?p={page}\", last_page: nav a, max_pages: 0 }")), [
    "7:66 source.extract.paginate.max_pages: expected a whole number ≥ 1, got 0",
  ]);
});

test("a field's options are checked with plain words", () => {
  assert.deepEqual(
    issuesOf(job("  extract: { rows: tr, fields: { no: { selector: td.id, required: yes } } }\n")),
    ["4:67 source.extract.fields.no.required: expected true or false, got \"yes\" (write true or false)"],
  );
  assert.deepEqual(issuesOf(job("  extract: { rows: tr, fields: {} }\n")), ["4:32 source.extract.fields: list at least one field"]);
});

test("a scraped source is read whole: cursor mode is refused", () => {
  assert.deepEqual(issuesOf(job(extract, "mode: cursor\ncursor: { column: UPDATED }\n")), [
    "7:7 mode: a scraped web UI is read whole on every run: use mode snapshot",
  ]);
});
