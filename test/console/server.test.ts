/**
 * The console's listener: loopback by default, a free port with port 0; an address other than loopback is
 * refused (naming ferry.yaml's line) unless TLS serves it or `insecure: true` says a proxy does; with TLS
 * it answers over HTTPS and its session cookie is `Secure`.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { addUser } from "../../src/console/auth/identity.ts";
import { startConsole } from "../../src/console/server.ts";
import { ConfigError } from "../../src/errors.ts";
import { silentLogger } from "../../src/log.ts";
import { customerMapping, customers, customerTable, erpSnapshotJob } from "../support/customers.ts";
import { createTestProject, type TestProject } from "../support/project.ts";

const openssl = ["/usr/bin/openssl", "/bin/openssl"].find((p) => existsSync(p));

describe("the console's listener", () => {
  let p: TestProject;
  before(async () => {
    p = await createTestProject({
      backend: "sqlite",
      legacy: { CUSTOMERS: customerTable(customers(2)) },
      mappings: { customer: customerMapping() },
      jobs: { erp: erpSnapshotJob() },
    });
  });
  after(() => p?.cleanup());
  const withHttp = (http: Record<string, unknown>) => ({ ...p.project, config: { ...p.project.config, http: { listen: "127.0.0.1:0", insecure: false, enabled: true, ...http } } });

  it("listens on loopback, on a free port with port 0", async () => {
    const server = await startConsole({ project: withHttp({}), store: p.store, log: silentLogger });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${server.url}/login`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /Sign in/);
    } finally {
      await server.close();
    }
  });

  it("refuses an address other than loopback without TLS, and serves it with insecure: true", async () => {
    await assert.rejects(startConsole({ project: withHttp({ listen: "0.0.0.0:0" }), store: p.store, log: silentLogger }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /http\.listen 0\.0\.0\.0:0 is not a loopback address.*set http\.tls.*or http\.insecure: true/);
      return true;
    });
    const server = await startConsole({ project: withHttp({ listen: "0.0.0.0:0", insecure: true }), store: p.store, log: silentLogger });
    await server.close();
  });

  it("serves HTTPS with http.tls, and marks its session cookie Secure", { skip: openssl ? false : "openssl is not installed" }, async () => {
    execFileSync(openssl!, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", path.join(p.dir, "key.pem"), "-out", path.join(p.dir, "cert.pem")], { stdio: "ignore" });
    await addUser(p.store.knex, { name: "tina", role: "viewer", password: "a long enough password" }, "test", new Date());
    const server = await startConsole({ project: withHttp({ tls: { cert: "cert.pem", key: "key.pem" } }), store: p.store, log: silentLogger });
    const previous = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
    try {
      assert.match(server.url, /^https:\/\//);
      const res = await fetch(`${server.url}/login`, {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded", origin: server.url },
        body: new URLSearchParams({ name: "tina", password: "a long enough password" }),
      });
      assert.equal(res.status, 303);
      assert.match(res.headers.get("set-cookie") ?? "", /; Secure/i);
    } finally {
      if (previous === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previous;
      await server.close();
    }
  });
});
