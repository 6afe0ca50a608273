import assert from "node:assert/strict";
import { test } from "node:test";
import { z } from "zod";
import { ConfigError } from "../errors.ts";
import { type ConfigIssue, parseConfigFile } from "./yaml.ts";

const job = z.strictObject({
  name: z.string().min(1).describe("The job's name."),
  source: z.strictObject({
    host: z.string(),
    batch_size: z.number().int().min(1),
  }),
  mode: z.enum(["append", "upsert", "mirror"]).default("append"),
  fields: z
    .array(z.strictObject({ name: z.string(), width: z.number().positive().max(10).optional() }))
    .default([]),
  input: z
    .discriminatedUnion("type", [
      z.strictObject({ type: z.literal("sql"), query: z.string() }),
      z.strictObject({ type: z.literal("csv"), path: z.string() }),
    ])
    .optional(),
  lookback: z
    .union([z.string().regex(/^\d+[smhd]$/, "expected a duration such as 30s, 10m or 2h"), z.number()])
    .optional(),
  enabled: z.boolean().optional(),
  token: z.string().meta({ writeOnly: true }).optional(),
});

const valid = `name: erp
source:
  host: db.local
  batch_size: 500
`;

function failure(text: string): ConfigError {
  try {
    parseConfigFile("jobs/erp.yaml", text, job);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error;
  }
  assert.fail("expected a ConfigError");
}

const issuesOf = (text: string) => failure(text).details.issues as ConfigIssue[];

test("a valid file gives the schema's output, defaults applied", () => {
  assert.deepEqual(parseConfigFile("jobs/erp.yaml", valid, job), {
    name: "erp",
    source: { host: "db.local", batch_size: 500 },
    mode: "append",
    fields: [],
  });
});

test("a YAML syntax error names the file, line, column and the parser's message", () => {
  const error = failure("name: erp\nfields: [a,\nmode: upsert\n");
  assert.equal(error.code, "CONFIG_YAML_SYNTAX");
  assert.deepEqual(error.location, { file: "jobs/erp.yaml", line: 3, column: 1, path: undefined });
  assert.match(
    error.message,
    /^jobs\/erp\.yaml:3:1: YAML syntax error: Flow sequence in block collection must be/,
  );
  assert.doesNotMatch(error.message, /\^/, "the source excerpt is left out");
});

test("a duplicate key is a syntax error naming the key", () => {
  const error = failure("name: erp\nmode: append\nmode: upsert\n");
  assert.equal(error.code, "CONFIG_YAML_SYNTAX");
  assert.equal(
    error.message,
    "jobs/erp.yaml:3:1: key \"mode\" appears twice in the same mapping: keep only one",
  );
});

test("an empty file or one with only comments is refused", () => {
  for (const text of ["", "\n\n", "# nothing yet\n"]) {
    const error = failure(text);
    assert.equal(error.code, "CONFIG_INVALID");
    assert.equal(error.message, "jobs/erp.yaml: file is empty");
  }
});

test("an unknown key points at its own line and suggests the closest allowed key", () => {
  const error = failure(`${valid}  batch_sise: 3\n`);
  assert.equal(error.code, "CONFIG_INVALID");
  assert.deepEqual(error.location, { file: "jobs/erp.yaml", line: 5, column: 3, path: "source.batch_sise" });
  assert.equal(
    error.message,
    "jobs/erp.yaml:5:3 (source.batch_sise): unknown key \"batch_sise\" (did you mean \"batch_size\"?); allowed keys: host, batch_size",
  );
});

test("an unknown key with nothing close only lists the allowed keys", () => {
  assert.deepEqual(issuesOf(`${valid}colour: red\n`), [
    {
      path: "colour",
      line: 5,
      column: 1,
      message:
        "unknown key \"colour\"; allowed keys: name, source, mode, fields, input, lookback, enabled, token",
    },
  ]);
});

test("a missing required key points at the parent mapping and says what was expected", () => {
  assert.deepEqual(issuesOf("name: erp\nsource:\n  host: db.local\n"), [
    {
      path: "source.batch_size",
      line: 2,
      column: 1,
      message: "missing required key \"batch_size\": expected a whole number ≥ 1",
    },
  ]);
  assert.deepEqual(issuesOf("source:\n  host: db.local\n  batch_size: 5\n"), [
    {
      path: "name",
      line: 1,
      column: 1,
      message: `missing required key "name": expected non-empty text (The job's name.)`,
    },
  ]);
});

test("a wrong type deep in a list points at the value and shows it", () => {
  const text = `${valid}fields:\n  - name: id\n  - name: email\n    width: "12"\n  - name: 42\n`;
  assert.deepEqual(issuesOf(text), [
    {
      path: "fields[1].width",
      line: 8,
      column: 12,
      message:
        "expected a number > 0 and ≤ 10, got \"12\" (it is in quotes, so YAML reads it as text: remove the quotes)",
    },
    {
      path: "fields[2].name",
      line: 9,
      column: 11,
      message: "expected text, got 42 (YAML reads it as a number: put it in quotes to keep it as text)",
    },
  ]);
});

test("a value out of an enum lists the allowed values", () => {
  assert.deepEqual(issuesOf(`${valid}mode: merge\n`), [
    { path: "mode", line: 5, column: 7, message: "expected one of append, upsert, mirror, got \"merge\"" },
  ]);
});

test("a discriminated union with an unknown type lists the allowed types", () => {
  assert.deepEqual(issuesOf(`${valid}input:\n  type: xml\n  path: a.xml\n`), [
    { path: "input.type", line: 6, column: 9, message: "expected one of sql, csv, got \"xml\"" },
  ]);
  assert.deepEqual(issuesOf(`${valid}input:\n  path: a.csv\n`), [
    {
      path: "input.type",
      line: 5,
      column: 1,
      message: "missing required key \"type\": expected one of sql, csv",
    },
  ]);
});

test("the branch of a discriminated union chosen by its type reports its own keys", () => {
  assert.deepEqual(issuesOf(`${valid}input:\n  type: csv\n  query: select 1\n`), [
    { path: "input.path", line: 5, column: 1, message: "missing required key \"path\": expected text" },
    { path: "input.query", line: 7, column: 3, message: "unknown key \"query\"; allowed keys: type, path" },
  ]);
});

test("a schema author's own message is kept, and a union reports the branch that fits the value", () => {
  assert.deepEqual(issuesOf(`${valid}lookback: 5 minutes\n`), [
    { path: "lookback", line: 5, column: 11, message: "expected a duration such as 30s, 10m or 2h" },
  ]);
  assert.deepEqual(issuesOf(`${valid}lookback: [1]\n`), [
    {
      path: "lookback",
      line: 5,
      column: 11,
      message: "expected text matching the pattern ^\\d+[smhd]$ or a number, got a list of 1 item",
    },
  ]);
});

test("a YAML 1.1 boolean gets a hint, and a write-only field never shows its value", () => {
  assert.deepEqual(issuesOf(`${valid}enabled: yes\ntoken: 12345678\n`), [
    {
      path: "enabled",
      line: 5,
      column: 10,
      message: "expected true or false, got \"yes\" (write true or false)",
    },
    { path: "token", line: 6, column: 8, message: "expected text, got a number" },
  ]);
});

test("every issue is reported, in file order, each on its own line; the first gives the location", () => {
  const text = "name: erp\nmode: merge\nsource:\n  host: 1\n  batch_size: lots\nextra: true\n";
  const error = failure(text);
  assert.deepEqual(error.location, { file: "jobs/erp.yaml", line: 2, column: 7, path: "mode" });
  assert.equal(
    error.message,
    [
      "jobs/erp.yaml:2:7 (mode): expected one of append, upsert, mirror, got \"merge\"",
      "jobs/erp.yaml:4:9 (source.host): expected text, got 1 (YAML reads it as a number: put it in quotes to keep it as text)",
      "jobs/erp.yaml:5:15 (source.batch_size): expected a whole number ≥ 1, got \"lots\"",
      "jobs/erp.yaml:6:1 (extra): unknown key \"extra\"; allowed keys: name, source, mode, fields, input, lookback, enabled, token",
    ].join("\n"),
  );
  assert.equal((error.details.issues as ConfigIssue[]).length, 4);
});

test("a whole number is told from a fraction, and an empty value is named as such", () => {
  assert.deepEqual(issuesOf("name: erp\nsource:\n  host:\n  batch_size: 0.5\n"), [
    { path: "source.host", line: 3, column: 3, message: "expected text, got an empty value" },
    { path: "source.batch_size", line: 4, column: 15, message: "expected a whole number ≥ 1, got 0.5" },
  ]);
});

test("a document that is not a mapping is reported at its start", () => {
  assert.deepEqual(issuesOf("- name: erp\n"), [
    { path: "", line: 1, column: 1, message: "expected a mapping, got a list of 1 item" },
  ]);
});
