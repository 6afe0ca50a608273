import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError } from "../../errors.ts";
import { durationMs } from "../../config/duration.ts";
import { resolveConnection } from "./connection.ts";
import { sqlConnectionSchema } from "./sql.config.ts";

const env = { ERP_PASSWORD: "p@ss:w/rd", ERP_URL: "postgres://ferry:pw@erp-db:6543/erp" };
const resolve = (c: unknown) => resolveConnection(sqlConnectionSchema.parse(c), { name: "erp", baseDir: "/project", env });

describe("connections", () => {
  test("fields, with the password a reference resolved only now", () => {
    const c = resolve({ dialect: "mysql", host: "db", database: "erp", user: "ferry", password: "${env:ERP_PASSWORD}", tls: { mode: "disable" } });
    assert.deepEqual(
      { host: c.host, database: c.database, user: c.user, password: c.password, tls: c.tls, poolMax: c.poolMax },
      { host: "db", database: "erp", user: "ferry", password: "p@ss:w/rd", tls: { mode: "disable", ca: undefined, serverName: undefined }, poolMax: 2 },
    );
  });

  test("a URL, whole as a reference or with the password as one", () => {
    const whole = resolve({ dialect: "postgres", url: "${env:ERP_URL}" });
    assert.deepEqual([whole.host, whole.port, whole.database, whole.user, whole.password], ["erp-db", 6543, "erp", "ferry", "pw"]);
    const partial = resolve({ dialect: "postgres", url: "postgresql://ferry:${env:ERP_PASSWORD}@db/erp" });
    assert.equal(partial.password, "p@ss:w/rd");
    const mssql = resolve({ dialect: "mssql", url: "mssql://ferry@sql01/Sales?instance=SQLEXPRESS" });
    assert.deepEqual([mssql.instanceName, mssql.database, mssql.readOnlyIntent], ["SQLEXPRESS", "Sales", true]);
    const oracle = resolve({ dialect: "oracle", url: "oracle://ferry@ora01:1521/ERPPDB" });
    assert.deepEqual([oracle.serviceName, oracle.port], ["ERPPDB", 1521]);
  });

  test("a literal password is refused by the schema, wherever it is written", () => {
    for (const c of [
      { dialect: "postgres", url: "postgres://ferry:hunter2@db/erp" },
      { dialect: "postgres", host: "db", password: "hunter2" },
    ]) {
      const parsed = sqlConnectionSchema.safeParse(c);
      assert.equal(parsed.success, false, JSON.stringify(c));
      assert.match(JSON.stringify(parsed.error?.issues), /literal/);
    }
  });

  test("URL scheme, parameters and Oracle's service are checked", () => {
    const fails = (c: unknown, message: RegExp) =>
      assert.throws(() => resolve(c), (e: unknown) => e instanceof ConfigError && message.test(e.message));
    fails({ dialect: "postgres", url: "mysql://db/erp" }, /a postgres URL starts with postgres:\/\/ or postgresql:\/\/, not mysql:\/\//);
    fails({ dialect: "postgres", url: "postgres://db/erp?sslmode=disable" }, /parameter "sslmode" is not understood: set TLS/);
    fails({ dialect: "oracle", host: "ora01" }, /needs service_name, sid or connect_string/);
    fails({ dialect: "postgres", url: "${env:NOPE}" }, /environment variable NOPE is not set/);
  });

  test("schema: url or fields, not both; durations; zones", () => {
    const issues = (c: unknown) => JSON.stringify(sqlConnectionSchema.safeParse(c).error?.issues ?? []);
    assert.match(issues({ dialect: "postgres", url: "postgres://db/x", host: "db" }), /either `url` or the connection fields/);
    assert.match(issues({ dialect: "mysql" }), /give `url`, or `host`/);
    assert.match(issues({ dialect: "mysql", host: "db", connect_timeout: "soon" }), /duration such as 500ms/);
    assert.match(issues({ dialect: "mysql", host: "db", time_zone: "Mars/Olympus" }), /IANA time zone/);
    assert.match(issues({ dialect: "oracle", host: "db", service_name: "A", sid: "B" }), /either `service_name` or `sid`/);
    assert.equal(issues({ dialect: "oracle", connect_string: "(DESCRIPTION=...)" }), "[]");
  });

  test("allow_privileged_login: off by default, on server dialects only, described as a risk", () => {
    for (const dialect of ["postgres", "mysql", "mssql", "oracle"] as const) {
      const base = { dialect, host: "db", ...(dialect === "oracle" ? { service_name: "ERP" } : {}) };
      const allowed = (c: object) => (sqlConnectionSchema.parse(c) as { allow_privileged_login: boolean }).allow_privileged_login;
      assert.equal(allowed(base), false, dialect);
      assert.equal(allowed({ ...base, allow_privileged_login: true }), true, dialect);
    }
    assert.throws(() => sqlConnectionSchema.parse({ dialect: "sqlite", path: "erp.db", allow_privileged_login: true }));
    const field = (sqlConnectionSchema.options[1].shape as Record<string, { description?: string }>).allow_privileged_login;
    assert.match(field?.description ?? "", /^A RISK: /);
  });

  test("durations", () => {
    assert.equal(durationMs("500ms"), 500);
    assert.equal(durationMs("15s"), 15_000);
    assert.equal(durationMs("10m"), 600_000);
    assert.equal(durationMs("1h"), 3_600_000);
  });
});
