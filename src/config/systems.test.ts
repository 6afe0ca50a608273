import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { z } from "zod";
import { ConfigError } from "../errors.ts";
import { ConnectorRegistry, type ConnectorSpec, type SourceSpec } from "./connector.ts";
import { type Connectors, loadProjectWith, validateProjectWith } from "./load.ts";
import { secretRef } from "./secrets.ts";
import { allSystems, requireSystems, resolveSystem } from "./systems.ts";

// Throwaway connectors: the configuration layer is given its connectors, it knows none of Ferry's.
const api: ConnectorSpec = {
  type: "api",
  configSchema: z.strictObject({ type: z.literal("api"), base_url: z.string(), token: secretRef, retries: z.number().default(3) }),
};
const table: SourceSpec<{ type: "table"; connection: string; name: string }> = {
  type: "table",
  configSchema: z.strictObject({ type: z.literal("table"), connection: z.string(), name: z.string() }),
  connectionSchema: z.strictObject({ dialect: z.literal("db"), host: z.string(), password: secretRef }),
  connectionOf: (config) => config.connection,
  modes: ["snapshot"],
  columnsFrom: "name",
};
const connectors: Connectors = {
  sources: new ConnectorRegistry<SourceSpec>("source").add(table as SourceSpec),
  destinations: new ConnectorRegistry<ConnectorSpec>("destination").add(api),
};

const FERRY_YAML = `state:
  path: \${env:STATE_DIR}/state.db
connections:
  erp:
    dialect: db
    host: \${env:ERP_HOST}
    password: \${env:ERP_PASSWORD}
destinations:
  crm:
    type: api
    base_url: https://\${env:CRM_HOST}/v3
    token: \${file:crm-token.txt}
`;

const MAPPING = `entity: thing
key: id
fields:
  id: { type: string }
  name: { type: string, rule: { owner: erp } }
sources:
  erp: { id: ID, name: NAME }
destinations:
  crm: { object: things, match: { property: id }, fields: { id: id, name: name } }
`;

const JOB = `description: Things, from the \${env:SITE} site.
source:
  type: table
  connection: erp
  name: \${env:TABLE}
mapping: thing
as: erp
`;

const ENV = { STATE_DIR: "state", ERP_HOST: "erp.local", ERP_PASSWORD: "erp-password-0123", CRM_HOST: "crm.example", TABLE: "THINGS", SITE: "Leeds" };

describe("the blocks of the systems Ferry talks to", () => {
  let dir: string;
  const file = () => path.join(dir, "ferry.yaml");
  const write = (name: string, text: string) => {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  };
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "ferry-systems-"));
    write("ferry.yaml", FERRY_YAML);
    write("mappings/thing.yaml", MAPPING);
    write("jobs/things.yaml", JOB);
    write("crm-token.txt", "crm-token-0123456789\n");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("load without their variables: their references stay as written, every other one resolves", () => {
    const project = loadProjectWith(connectors, file(), { STATE_DIR: "state", SITE: "Leeds" });
    assert.deepEqual(project.config.state, { path: "state/state.db" });
    assert.equal(project.jobs.get("things")?.config.description, "Things, from the Leeds site.");
    assert.deepEqual(project.config.connections.erp, { dialect: "db", host: "${env:ERP_HOST}", password: "${env:ERP_PASSWORD}" });
    assert.equal(project.config.destinations.crm?.base_url, "https://${env:CRM_HOST}/v3");
    assert.equal(project.jobs.get("things")?.config.source.name, "${env:TABLE}");
    assert.deepEqual(
      allSystems(project.systems).map((b) => `${b.file} ${b.at.join(".")}`),
      ["ferry.yaml connections.erp", "ferry.yaml destinations.crm", "jobs/things.yaml source"],
    );
  });

  test("resolved, a block's fields take their values, its credentials stay references, its defaults stay", () => {
    const project = loadProjectWith(connectors, file(), ENV);
    assert.deepEqual(resolveSystem(project, project.systems.destinations.get("crm")!), {
      type: "api",
      base_url: "https://crm.example/v3",
      token: "${file:crm-token.txt}",
      retries: 3,
    });
    assert.deepEqual(resolveSystem(project, project.systems.sources.get("things")!), { type: "table", connection: "erp", name: "THINGS" });
    assert.equal(project.config.destinations.crm?.base_url, "https://${env:CRM_HOST}/v3", "the loaded project is left as it was");
  });

  test("a reference that cannot resolve stops its block, naming file, line and field; the other blocks still resolve", () => {
    const project = loadProjectWith(connectors, file(), { ...ENV, ERP_HOST: undefined, ERP_PASSWORD: undefined });
    const connection = project.systems.connections.get("erp")!;
    assert.throws(
      () => resolveSystem(project, connection),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.code === "CONFIG_SECRET_UNRESOLVED" &&
        e.message ===
          "ferry.yaml:6:5 (connections.erp.host): environment variable ERP_HOST is not set (used as ${env:ERP_HOST}): set it before running Ferry",
    );
    assert.throws(() => requireSystems(project, allSystems(project.systems)), /connections\.erp\.host/);
    requireSystems(project, [project.systems.destinations.get("crm")!, project.systems.sources.get("things")!]);
  });

  test("validate reports every reference of every block that cannot resolve, at its line", () => {
    rmSync(path.join(dir, "crm-token.txt"));
    try {
      const v = validateProjectWith(connectors, file(), { STATE_DIR: "state", SITE: "Leeds" });
      assert.deepEqual(
        v.errors.map((e) => `${e.location?.line}:${e.location?.column} ${e.location?.path} ${e.code}`),
        [
          "6:5 connections.erp.host CONFIG_SECRET_UNRESOLVED",
          "7:5 connections.erp.password CONFIG_SECRET_UNRESOLVED",
          "11:5 destinations.crm.base_url CONFIG_SECRET_UNRESOLVED",
          "12:5 destinations.crm.token CONFIG_SECRET_UNRESOLVED",
          "5:3 source.name CONFIG_SECRET_UNRESOLVED",
        ],
      );
      assert.match(v.errors[3]!.message, /\$\{file:crm-token\.txt\}: file .*crm-token\.txt does not exist/);
    } finally {
      write("crm-token.txt", "crm-token-0123456789\n");
    }
  });

  test("a malformed reference in a block is a mistake of the file: loading refuses it, at its line", () => {
    write("jobs/things.yaml", JOB.replace("${env:TABLE}", "${env:TABLE"));
    try {
      assert.throws(
        () => loadProjectWith(connectors, file(), ENV),
        (e: unknown) =>
          e instanceof ConfigError && e.code === "CONFIG_SECRET_INVALID" && e.message.startsWith("jobs/things.yaml:5:3 (source.name): ${env:TABLE has no closing }"),
      );
    } finally {
      write("jobs/things.yaml", JOB);
    }
  });
});
