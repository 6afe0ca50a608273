import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PermanentError } from "../../errors.ts";
import { apiMessage, batchEntries, errorOf, lookupMatch, valueAt } from "./rest.results.ts";
import { checkTemplate, placeholdersOf, render, renderPath, type Scope } from "./rest.template.ts";

const scope: Scope = (name) =>
  ({
    key: "K 1/2",
    remote_id: null,
    properties: { name: "Ann", age: 42 },
    "field.age": 42,
    "field.name": "Ann",
    records: [{ a: 1 }],
  })[name];

describe("rest templates", () => {
  test("a whole placeholder keeps its JSON type; text interpolates", () => {
    assert.deepEqual(
      render({ all: "{{properties}}", age: "{{ field.age }}", id: "{{remote_id}}", label: "{{field.name}} ({{field.age}}) {{remote_id}}", n: 3, list: ["{{key}}", true] }, scope),
      { all: { name: "Ann", age: 42 }, age: 42, id: null, label: "Ann (42) ", n: 3, list: ["K 1/2", true] },
    );
    assert.equal(render("props: {{properties}}", scope), "props: {\"name\":\"Ann\",\"age\":42}");
  });

  test("paths percent-encode values, and refuse an empty one", () => {
    assert.equal(renderPath("/c/{{key}}?age={{field.age}}", scope, "endpoints.update.path"), "/c/K%201%2F2?age=42");
    assert.throws(
      () => renderPath("/c/{{remote_id}}", scope, "endpoints.update.path"),
      (e) => e instanceof PermanentError && e.code === "DEST_TEMPLATE_EMPTY" && /endpoints\.update\.path needs one/.test(e.message),
    );
  });

  test("checking lists the placeholders with where they are", () => {
    assert.deepEqual(placeholdersOf({ a: ["x {{key}} {{field.a.b}}"], b: "{{records}}" }), [
      { name: "key", path: ["a", 0], whole: false },
      { name: "field.a.b", path: ["a", 0], whole: false },
      { name: "records", path: ["b"], whole: true },
    ]);
    const refuse = (name: string) => (name === "remote_id" ? "not here" : undefined);
    const issues = checkTemplate({ a: "{{nope}}", b: ["{{remote_id}}"], "{{key}}": 1, c: "{{key}" }, refuse);
    assert.deepEqual(issues.map((i) => i.path), [["{{key}}"], ["c"], ["a"], ["b", 0]]);
    assert.deepEqual(issues.map((i) => i.message.slice(0, 60)), [
      "placeholders are replaced in values only, not in keys",
      "a {{ that is not part of a placeholder: write placeholders a",
      "unknown placeholder {{nope}}: the placeholders are {{key}}, ",
      "{{remote_id}} cannot be used here: not here",
    ]);
    assert.deepEqual(checkTemplate({ x: "{{field.}}" }, refuse).length, 1);
  });
});

describe("rest answers", () => {
  test("dotted paths into objects and lists", () => {
    const body = { data: { items: [{ id: 7 }] } };
    assert.equal(valueAt(body, "data.items.0.id"), 7);
    assert.equal(valueAt(body, "data.nothing.id"), undefined);
    assert.equal(valueAt(body, undefined), body);
  });

  test("a lookup's match: one, none, too many, no id", () => {
    assert.deepEqual(lookupMatch({ data: [{ id: 7 }] }, "data", "id"), { kind: "found", id: "7" });
    assert.deepEqual(lookupMatch({ data: [] }, "data", "id"), { kind: "none" });
    assert.deepEqual(lookupMatch({ id: "x" }, undefined, "id"), { kind: "found", id: "x" });
    assert.deepEqual(lookupMatch(undefined, undefined, "id"), { kind: "none" });
    assert.deepEqual(lookupMatch([{ id: 1 }, { id: 2 }], undefined, "id"), { kind: "ambiguous", count: 2 });
    assert.deepEqual(lookupMatch([{ uuid: 1 }], undefined, "id"), { kind: "no-id" });
  });

  test("batch results by index or by key; errors present and not empty", () => {
    const body = { results: [{ key: "b", id: 2 }, { key: "a", id: 1, error: "" }] };
    assert.deepEqual(batchEntries(body, { path: "results" }, ["a", "b", "c"]), [body.results[0], body.results[1], undefined]);
    assert.deepEqual(batchEntries(body, { path: "results", match_by: "key", key_field: "key" }, ["a", "b", "c"]), [body.results[1], body.results[0], undefined]);
    assert.equal(batchEntries({}, { path: "results" }, ["a"]), null);
    assert.equal(errorOf(body.results[1], "error"), undefined);
    assert.equal(errorOf({ error: { message: "bad" } }, "error"), "bad");
    assert.equal(errorOf({ errors: [{ message: "first" }] }, "errors"), "first");
    assert.equal(errorOf({ error: { code: 3 } }, "error"), "{\"code\":3}");
    assert.equal(errorOf({ error: "bad" }, undefined), undefined);
  });

  test("the API's own message in an error answer", () => {
    assert.equal(apiMessage({ message: "m" }), "m");
    assert.equal(apiMessage({ error: { message: "nested" } }), "nested");
    assert.equal(apiMessage({ errors: [{ message: "first" }] }), "first");
    assert.equal(apiMessage({ error: "invalid_client", error_description: "wrong secret" }), "wrong secret");
    assert.equal(apiMessage("text"), undefined);
  });
});
