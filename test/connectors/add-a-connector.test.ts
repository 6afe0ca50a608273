/**
 * Adding a connector is its folder plus one line in its registry. The throwaway connectors of
 * `throwaway/` are registered the way `src/sources/registry.ts` and `src/destinations/registry.ts`
 * register Ferry's own, and nothing else is edited: the job and project schemas, the loader's secret
 * handling and mode rule, `ferry validate --schemas`, a run and a delivery all follow from the registries.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { loadProject, validateProject } from "../../src/project.ts";
import { ferry, shown } from "../cli/project.ts";
import "./throwaway/register.ts";

const REGISTER = pathToFileURL(fileURLToPath(new URL("./throwaway/register.ts", import.meta.url))).href;
const TOKEN = "throwaway-token-0123456789";
const KEY = "throwaway-key-9876543210";
const ENV = { THROWAWAY_TOKEN: TOKEN, THROWAWAY_KEY: KEY };

const FERRY_YAML = `state:
  path: .ferry/state.db
destinations:
  sink:
    type: throwaway
    folder: out
    api_key: \${env:THROWAWAY_KEY}
`;

const MAPPING = `entity: thing
key: id
fields:
  id: { type: string }
  name: { type: string, rule: { owner: box } }
sources:
  box: { id: id, name: name }
destinations:
  sink:
    object: things
    match: { property: id }
    fields: { id: id, name: name }
`;

const job = (mode = "") => `source:
  type: throwaway
  token: \${env:THROWAWAY_TOKEN}
  rows:
    - { id: "1", name: Anchor }
    - { id: "2", name: Buoy }
mapping: thing
as: box
${mode}`;

describe("a throwaway connector, registered with one line", () => {
  let dir: string;
  const write = (file: string, text: string) => {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  };
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "ferry-throwaway-"));
    write("ferry.yaml", FERRY_YAML);
    write("mappings/thing.yaml", MAPPING);
    write("jobs/things.yaml", job());
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("its credential fields stay references after loading, and their values appear nowhere", () => {
    const project = loadProject(path.join(dir, "ferry.yaml"), { ...ENV });
    assert.equal(project.jobs.get("things")?.config.source.token, "${env:THROWAWAY_TOKEN}");
    assert.equal(project.config.destinations.sink?.api_key, "${env:THROWAWAY_KEY}");
    const everything = JSON.stringify({ config: project.config, jobs: [...project.jobs.values()] });
    assert.ok(!everything.includes(TOKEN) && !everything.includes(KEY), "no resolved secret in the loaded project");
  });

  test("a credential that cannot resolve is a configuration error at its line", () => {
    const v = validateProject(path.join(dir, "ferry.yaml"), { THROWAWAY_KEY: KEY });
    assert.deepEqual(
      v.errors.map((e) => e.message),
      ["jobs/things.yaml:3:3 (source.token): environment variable THROWAWAY_TOKEN is not set (used as ${env:THROWAWAY_TOKEN}): set it before running Ferry"],
    );
  });

  test("a mode it does not declare is refused at the job's mode line", () => {
    write("jobs/things.yaml", job("mode: cursor\ncursor: { column: id }\n"));
    try {
      const v = validateProject(path.join(dir, "ferry.yaml"), { ...ENV });
      assert.deepEqual(
        v.errors.map((e) => e.message),
        ["jobs/things.yaml:9:7 (mode): a throwaway source reads in mode snapshot: use mode snapshot"],
      );
    } finally {
      write("jobs/things.yaml", job());
    }
  });

  test("its validate hook reports what it finds, at the field's line", () => {
    write("ferry.yaml", FERRY_YAML.replace("folder: out", "folder: /tmp/elsewhere"));
    try {
      const v = validateProject(path.join(dir, "ferry.yaml"), { ...ENV });
      assert.deepEqual(
        v.errors.map((e) => e.message),
        ["ferry.yaml:6:5 (destinations.sink.folder): folder must be inside the project: give a relative path"],
      );
    } finally {
      write("ferry.yaml", FERRY_YAML);
    }
  });

  test("ferry validate --schemas describes it; ferry run reads it and delivers through it", async () => {
    const env = { ...ENV, NODE_OPTIONS: `--import=${REGISTER}` };
    const schemas = path.join(dir, "schemas");
    const validated = await ferry(dir, ["validate", "--schemas", schemas], env);
    assert.equal(validated.code, 0, shown(validated));
    const jobSchema = readFileSync(path.join(schemas, "job.schema.json"), "utf8");
    const projectSchema = readFileSync(path.join(schemas, "project.schema.json"), "utf8");
    assert.match(jobSchema, /"const": "throwaway"/);
    assert.match(jobSchema, /"description": "The throwaway system's token\.",\s*"writeOnly": true/);
    assert.match(projectSchema, /"description": "The throwaway API's key\.",\s*"writeOnly": true/);

    const run = await ferry(dir, ["run", "things"], env);
    assert.equal(run.code, 0, shown(run));
    const lines = readFileSync(path.join(dir, "out", "sink.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => [l.op, l.key, l.properties.name]).sort(), [["upsert", "1", "Anchor"], ["upsert", "2", "Buoy"]]);
  });
});
