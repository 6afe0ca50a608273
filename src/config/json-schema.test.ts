import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import { parse } from "yaml";
import { z } from "zod";
import { describeJsonSchema, subschemaAt, toJsonSchema, writeJsonSchemas } from "./json-schema.ts";
import { secretRef } from "./secrets.ts";

const job = z.strictObject({
  name: z.string().min(1).describe("The job's name."),
  batch_size: z.number().int().min(1).max(50_000).default(1000),
  mode: z.enum(["append", "upsert"]).default("append"),
  source: z.discriminatedUnion("type", [
    z.strictObject({ type: z.literal("sql"), query: z.string(), password: secretRef }),
    z.strictObject({ type: z.literal("csv"), path: z.string() }),
  ]),
  tags: z.array(z.string()).optional(),
});

test("toJsonSchema describes the input side, with the given id and title", () => {
  const schema = toJsonSchema(job, { title: "Ferry job", id: "https://example.test/job.schema.json" });
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  assert.equal(schema.$id, "https://example.test/job.schema.json");
  assert.equal(schema.title, "Ferry job");
  assert.deepEqual(schema.required, ["name", "source"], "fields with a default are optional to write");
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(schema.properties?.batch_size, {
    type: "integer",
    minimum: 1,
    maximum: 50_000,
    default: 1000,
  });
  assert.deepEqual(schema.properties?.name, { type: "string", minLength: 1, description: "The job's name." });
});

test("a credential field is a write-only string with the reference pattern", () => {
  const schema = toJsonSchema(job, { title: "Ferry job", id: "job.schema.json" });
  const password = subschemaAt(schema, ["source", "password"], { source: { type: "sql" } });
  assert.equal(password?.type, "string");
  assert.equal(password?.writeOnly, true);
  assert.equal(typeof password?.pattern, "string");
});

test("describeJsonSchema says in plain words what a field accepts", () => {
  const schema = toJsonSchema(job, { title: "Ferry job", id: "job.schema.json" });
  const at = (path: (string | number)[], data: unknown = {}) => {
    const node = subschemaAt(schema, path, data);
    return node && describeJsonSchema(schema, node);
  };
  assert.equal(at(["batch_size"]), "a whole number between 1 and 50000");
  assert.equal(at(["mode"]), "one of append, upsert");
  assert.equal(at(["source"]), "a mapping whose type is one of sql, csv");
  assert.equal(at(["source", "path"], { source: { type: "csv" } }), "text");
  assert.equal(at(["source", "path"], { source: { type: "sql" } }), undefined);
  assert.equal(at(["tags", 0]), "text");
  assert.equal(at(["tags"]), "a list");
});

test("writeJsonSchemas writes one pretty-printed file per schema, usable by a validator", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ferry-schemas-"));
  try {
    const paths = await writeJsonSchemas(join(dir, "schemas"), { job, tag: z.string() });
    assert.deepEqual(paths, [
      join(dir, "schemas", "job.schema.json"),
      join(dir, "schemas", "tag.schema.json"),
    ]);
    const text = await readFile(join(dir, "schemas", "job.schema.json"), "utf8");
    assert.ok(
      text.startsWith(
        "{\n  \"$schema\": \"https://json-schema.org/draft/2020-12/schema\",\n  \"$id\": \"job.schema.json\",",
      ),
    );
    assert.ok(text.endsWith("}\n"));

    const validate = new Ajv2020({ strict: false }).compile(JSON.parse(text));
    const good = parse("name: erp\nsource:\n  type: sql\n  query: select 1\n  password: ${env:PW}\n");
    assert.equal(validate(good), true, JSON.stringify(validate.errors));
    const literal = parse("name: erp\nsource:\n  type: sql\n  query: select 1\n  password: hunter2\n");
    assert.equal(validate(literal), false);
    assert.equal(validate({ name: "erp", source: { type: "csv", path: "a.csv" }, extra: 1 }), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
