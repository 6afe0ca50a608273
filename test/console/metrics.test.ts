/**
 * `/metrics`, `/healthz` and `/readyz` of the console: the Prometheus text parses, the shared state's gauges
 * match the state store, a run moves the run counters, a token guards `/metrics` when set, and `/readyz`
 * fails when the state store does not answer.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe, it } from "node:test";
import { createConsoleApp } from "../../src/console/app.ts";
import { createDestinations } from "../../src/cli/context.ts";
import { silentLogger } from "../../src/log.ts";
import { startService } from "../../src/service/service.ts";
import { openStateStore } from "../../src/state/store.ts";
import { customerMapping, customers, customerTable, erpSnapshotJob } from "../support/customers.ts";
import { createTestProject, type TestProject } from "../support/project.ts";

interface Family {
  name: string;
  type: string;
  metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string }[];
}
const parse = createRequire(import.meta.url)("parse-prometheus-text-format") as (text: string) => Family[];

describe("metrics and health", () => {
  let p: TestProject;
  before(async () => {
    p = await createTestProject({
      backend: "sqlite",
      legacy: { CUSTOMERS: customerTable(customers(25)) },
      mappings: { customer: customerMapping() },
      jobs: { erp: erpSnapshotJob() },
    });
  });
  after(() => p?.cleanup());

  const value = (families: Family[], name: string, labels: Record<string, string> = {}) =>
    Number(
      families
        .find((f) => f.name === name)
        ?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v))?.value ?? Number.NaN,
    );

  it("serves Prometheus text that parses, with the shared state read from the store, and counters that move as runs happen", async () => {
    const app = createConsoleApp({ project: p.project, store: p.store, log: silentLogger, secure: false, scheduler: () => "running" });
    let text = "";
    const scrape = async () => {
      const res = await app.request("/metrics");
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /text\/plain/);
      text = await res.text();
      return parse(text);
    };
    const before = await scrape();
    assert.equal(value(before, "ferry_build_info", { node: process.version }), 1);
    assert.ok(before.some((f) => f.name === "ferry_process_resident_memory_bytes" && f.type === "GAUGE"));
    const runsBefore = value(before, "ferry_runs_total", { job: "erp", outcome: "succeeded" });

    const destinations = createDestinations(p.project, silentLogger);
    const service = await startService({ project: p.project, store: p.store, destinations, log: silentLogger, deliveryIntervalMs: 60_000 });
    try {
      const result = await service.trigger("erp");
      assert.ok(result !== "already-running" && result.status === "succeeded");
    } finally {
      await service.stop();
    }
    const afterRun = await scrape();
    assert.equal(value(afterRun, "ferry_runs_total", { job: "erp", outcome: "succeeded" }), (Number.isNaN(runsBefore) ? 0 : runsBefore) + 1);
    assert.ok(value(afterRun, "ferry_rows_total", { job: "erp", kind: "read" }) >= 25);
    assert.equal(value(afterRun, "ferry_deliveries_total", { destination: "hubspot", outcome: "created" }), 25);
    assert.equal(value(afterRun, "ferry_outbox_records", { destination: "hubspot", status: "delivered" }), 25);
    assert.ok(value(afterRun, "ferry_last_success_timestamp_seconds", { job: "erp" }) > Date.now() / 1000 - 600);
    const latency = afterRun.find((f) => f.name === "ferry_destination_request_duration_seconds");
    assert.equal(latency?.type, "HISTOGRAM");
    assert.ok(latency!.metrics.length > 0);
    const count = /^ferry_destination_request_duration_seconds_count\{destination="hubspot",status_class="2xx"\} (\d+)$/m.exec(text);
    assert.ok(count && Number(count[1]) > 0, "requests to hubspot counted by status class");
  });

  it("asks for the token when http.metrics_token is set", async () => {
    const app = createConsoleApp({ project: p.project, store: p.store, log: silentLogger, secure: false, metricsToken: "s3cret-scrape-token" });
    assert.equal((await app.request("/metrics")).status, 401);
    assert.equal((await app.request("/metrics", { headers: { authorization: "Bearer wrong" } })).status, 401);
    assert.equal((await app.request("/metrics", { headers: { authorization: "Bearer s3cret-scrape-token" } })).status, 200);
  });

  it("/healthz answers; /readyz is ready with the store and the scheduler, and not once the store does not answer", async () => {
    const store = await openStateStore(p.project.config.state, p.project.dir);
    let scheduler: "running" | "stopping" = "running";
    const app = createConsoleApp({ project: p.project, store, log: silentLogger, secure: false, scheduler: () => scheduler });
    assert.equal((await app.request("/healthz")).status, 200);
    const ready = await app.request("/readyz");
    assert.equal(ready.status, 200, await ready.clone().text());
    scheduler = "stopping";
    assert.equal((await app.request("/readyz")).status, 503);
    scheduler = "running";
    await store.close();
    const started = Date.now();
    const down = await app.request("/readyz");
    assert.equal(down.status, 503);
    assert.match(((await down.json()) as { checks: { state_store: string } }).checks.state_store, /unreachable/);
    assert.ok(Date.now() - started < 1_000, "answers within a second");
  });
});
