/**
 * Ferry's Prometheus metrics (prom-client), in base units with a `ferry_` prefix, on the console's listener
 * (`/metrics`). This process's counters and histograms are updated where things happen (a run ends, a
 * delivery pass ends, an HTTP request is answered, a rate-limit wait, a breaker changes); the gauges that
 * describe shared state (outbox pending and dead, open conflicts, last successful run, worker heartbeats)
 * are read from the state store when scraped (src/console/metrics.ts), so any worker's answer is the
 * cluster's. The names are listed in the README ("Operating it").
 */
import client from "prom-client";

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry, prefix: "ferry_" });

const counter = (name: string, help: string, labelNames: readonly string[]) =>
  new client.Counter({ name, help, labelNames: [...labelNames], registers: [registry] });
const histogram = (name: string, help: string, labelNames: readonly string[], buckets: number[]) =>
  new client.Histogram({ name, help, labelNames: [...labelNames], buckets, registers: [registry] });
const gauge = (name: string, help: string, labelNames: readonly string[]) =>
  new client.Gauge({ name, help, labelNames: [...labelNames], registers: [registry] });

export const m = {
  runs: counter("ferry_runs_total", "Runs ended in this process, by job and outcome.", ["job", "outcome"]),
  rows: counter("ferry_rows_total", "Source rows of runs ended in this process, by job and what became of them (read, unchanged, changed, rejected, filtered).", ["job", "kind"]),
  deletes: counter("ferry_deletes_total", "Records deleted (withdrawn) by runs in this process, by job.", ["job"]),
  conflictsOpened: counter("ferry_conflicts_opened_total", "Conflicts opened by runs in this process, by job.", ["job"]),
  runDuration: histogram("ferry_run_duration_seconds", "How long runs took, by job.", ["job"], [1, 5, 15, 60, 300, 900, 3600, 4 * 3600]),
  files: counter("ferry_files_total", "Files taken by folder and SFTP jobs in this process, by job and outcome.", ["job", "outcome"]),
  deliveries: counter("ferry_deliveries_total", "Records delivered by this process, by destination and outcome (created, updated, deleted, retried, dead).", ["destination", "outcome"]),
  requests: histogram("ferry_destination_request_duration_seconds", "HTTP requests to destinations, by destination and status class (2xx, 4xx, 5xx, network).", ["destination", "status_class"], [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]),
  rateLimitWaits: counter("ferry_rate_limit_wait_seconds_total", "Time requests waited for the rate limit, by API.", ["api"]),
  breakerOpen: gauge("ferry_breaker_open", "1 while this process's circuit breaker of a destination is open, else 0.", ["destination"]),
  buildInfo: gauge("ferry_build_info", "Ferry's version and Node.js's, always 1.", ["version", "node"]),
};

/** `2xx`, `4xx`, `5xx`, or `network` for a request that got no answer. */
export const statusClass = (status: number | null): string => (status === null ? "network" : `${Math.floor(status / 100)}xx`);
