/**
 * `npm run bench -- --suite workers`: several `ferry serve` workers on one PostgreSQL state database, as real
 * processes (src/service/cluster.ts), and what their work queue (pg-boss, src/cluster/queue.ts) costs.
 *
 * For 1, 2 and 3 workers, each time on a fresh state database and a fresh HubSpot emulator (its own process,
 * rate limit off), so that each is a first sync: that many `ferry serve --worker-id wN` are started, one run
 * of the snapshot job `items` over the generated legacy table (1M rows unless --rows; legacy-items.ts) is
 * asked for as a trigger asks (a request in the `ferry-runs` queue keyed by the job), and the time is taken
 * from that request until the run has finished and the outbox holds nothing pending, as the state database
 * shows it (polled every 200 ms). A job's run is held by one worker (its run lease), so more workers can only
 * help through delivery passes (`ferry-deliveries`) taken by a worker other than the run's, on a machine
 * whose cores the workers share with PostgreSQL and the emulator. It prints the time, rows/s, the ratio to
 * the 1-worker time, each worker's peak RSS (VmHWM, read before the workers are stopped), how many records
 * each delivered, the machine's load average (other work on it shows there) and whether PostgreSQL's
 * autovacuum is off (then nothing analyzes the state tables while the sync fills them).
 *
 * Then pg-boss's own cost per queued job, on a fresh database with a queue made as Ferry makes its own
 * (stately): N sends with distinct singleton keys, the same N fetched and completed one at a time (the
 * statements a worker runs for each run request it takes), and N more worked by a no-op handler in batches
 * fetched back to back; beside a bare SQL INSERT and DELETE per job on the same database, the floor (the
 * better of a measure before pg-boss's and one after).
 * It never fails on a timing.
 *
 *   npm run bench -- --suite workers                 # 1M rows
 *   npm run bench -- --suite workers --rows 100000
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { PgBoss } from "pg-boss";
import { QUEUE_SCHEMA, RUNS, type RunRequest } from "../../src/cluster/queue.ts";
import { CLI, childEnv, exited } from "../cli/project.ts";
import { createTestDatabase, type TestDatabase } from "../support/pg.ts";
import { benchDir, ensureSource, type EmulatorProcess, projectFiles, startEmulatorProcess } from "./legacy-items.ts";
import { LAUNCHER_FLAGS } from "./sql-extract.ts";

const JOB = "items";
const WORKER_COUNTS = [1, 2, 3];
/** The workers' settings: an idle worker asks the queue every 500 ms; a delivery pass is asked for every second. */
const SERVE = "run_lease: { expiry: 30s }\nserve: { poll: 500ms, schedule_check: 5s, delivery_every: 1s }\nhttp: { listen: \"127.0.0.1:0\" }";
/** Jobs sent to pg-boss, and worked, for its cost per job. */
const QUEUE_JOBS = 2_000;

/** Polls `check` until it returns something other than undefined; throws past the deadline, saying what it waited for. */
async function until<T>(what: string, deadlineMs: number, check: () => Promise<T | undefined>, everyMs = 200): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${Math.round(deadlineMs / 1000)} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** A `ferry serve` process: its last lines of output (for errors) and what its log said it did. */
interface Worker {
  id: string;
  child: ChildProcess;
  tail: string[];
  /** Its banner was printed: its queue is open. */
  started: boolean;
  /** Records it delivered, summed from its "delivery finished" lines. */
  delivered: number;
  /** It logged "run finished": it held the run. */
  ranRun: boolean;
}

const alive = (w: Worker) => w.child.exitCode === null && w.child.signalCode === null;

function describeWorker(w: Worker): string {
  const how = alive(w) ? "running" : `exited with ${w.child.exitCode ?? w.child.signalCode}`;
  return `worker ${w.id} (${how}); its last lines:\n${w.tail.join("\n")}`;
}

/** Reads a worker's log lines (pino JSON on stderr) as they come, keeping the last 30. */
function follow(worker: Worker, stream: NodeJS.ReadableStream) {
  let partial = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.includes("ferry serve: worker")) worker.started = true;
      if (line.includes("\"msg\":\"run finished\"")) worker.ranRun = true;
      if (line.includes("\"msg\":\"delivery finished\"")) worker.delivered += deliveredIn(line);
      worker.tail.push(line);
      if (worker.tail.length > 30) worker.tail.shift();
    }
  });
}

/** The records a "delivery finished" line says were delivered (0 for a line that is not JSON). */
function deliveredIn(line: string): number {
  try {
    return Number((JSON.parse(line) as { delivered?: number }).delivered ?? 0);
  } catch {
    return 0;
  }
}

/** `ferry serve --worker-id <id>`, started as the `ferry` command starts Node. */
function startWorker(dir: string, id: string, emulatorUrl: string): Worker {
  const env = childEnv({ HUBSPOT_BASE_URL: emulatorUrl, HUBSPOT_TOKEN: "bench", FERRY_LOG_LEVEL: "info" });
  const child = spawn(process.execPath, [...LAUNCHER_FLAGS, CLI, "--config", dir, "serve", "--worker-id", id], {
    cwd: dir,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const worker: Worker = { id, child, tail: [], started: false, delivered: 0, ranRun: false };
  follow(worker, child.stdout!);
  follow(worker, child.stderr!);
  return worker;
}

/** The most resident memory the process has had (Linux's VmHWM), in MB; NaN where /proc does not say. */
function peakRssMb(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** SIGTERM to each worker, as an operator stops one; one still running after 90 s is killed. */
async function stopWorkers(workers: Worker[]): Promise<void> {
  await Promise.all(
    workers.filter(alive).map(async (w) => {
      w.child.kill("SIGTERM");
      await exited(w.child, 90_000, `worker ${w.id}`).catch((e: unknown) => {
        process.stderr.write(`${(e as Error).message}: killed\n`);
      });
    }),
  );
}

interface RunRow {
  status: string;
  started_at: string;
  finished_at: string | null;
  error: string | null;
  read: string;
}

interface ClusterFigures {
  workers: number;
  seconds: number;
  /** From the request to the run's start: how long the queue took to hand it to a worker. */
  pickupSeconds: number;
  /** The run itself (read, map, diff, merge, state writes), from the runs table. */
  runSeconds: number;
  /** From the run's end until nothing was pending: delivery the run did not overlap. */
  tailSeconds: number;
  heldBy: string;
  peakRssMb: Record<string, number>;
  deliveredBy: Record<string, number>;
  outbox: Record<string, number>;
  /** The machine's 1-minute load average when nothing was pending: other work on it shows here. */
  load: number;
  /** PostgreSQL's `autovacuum` setting: off, nothing analyzes the state tables while they fill. */
  autovacuum: string;
}

/**
 * One first sync of `rows` rows by `count` workers on a fresh state database, into a fresh emulator. Every
 * process it starts is stopped, and the database dropped, whatever happens.
 */
async function cluster(rows: number, count: number): Promise<ClusterFigures> {
  const source = ensureSource(rows);
  const dir = path.join(benchDir, `workers-project-${rows}`);
  const workers: Worker[] = [];
  let database: TestDatabase | undefined;
  let emulator: EmulatorProcess | undefined;
  let boss: PgBoss | undefined;
  let state: pg.Client | undefined;
  try {
    database = await createTestDatabase();
    emulator = await startEmulatorProcess();
    projectFiles(dir, source, `state: { url: ${JSON.stringify(database.url)} }\n${SERVE}`);
    for (let i = 1; i <= count; i++) workers.push(startWorker(dir, `w${i}`, emulator.url));
    const all = workers;
    await until(`${count} worker(s) to start`, 120_000, async () => {
      const dead = all.find((w) => !alive(w));
      if (dead) throw new Error(`a worker stopped while starting: ${describeWorker(dead)}`);
      return all.every((w) => w.started) ? true : undefined;
    });
    state = new pg.Client({ connectionString: database.url });
    await state.connect();
    // A client of the queue that only sends, as the cluster test's trigger does.
    boss = new PgBoss({
      connectionString: database.url,
      schema: QUEUE_SCHEMA,
      schedule: false,
      supervise: false,
      registerInstance: false,
      migrate: false,
      openTelemetry: { enabled: false },
    });
    boss.on("error", (e: unknown) => process.stderr.write(`pg-boss (trigger): ${(e as Error).message}\n`));
    await boss.start();
    return await timeOneSync(rows, count, workers, state, boss);
  } finally {
    for (const w of workers.filter(alive)) w.child.kill("SIGKILL");
    await boss?.stop({ graceful: false, close: true }).catch(() => {});
    await state?.end().catch(() => {});
    await emulator?.stop().catch(() => {});
    await database?.drop().catch((e: unknown) => process.stderr.write(`could not drop ${database?.name}: ${(e as Error).message}\n`));
  }
}

/** The run asked for, waited for with its delivery, the workers' peak RSS read, and the workers stopped. */
async function timeOneSync(rows: number, count: number, workers: Worker[], state: pg.Client, boss: PgBoss): Promise<ClusterFigures> {
  const askedAt = Date.now();
  const t0 = performance.now();
  await boss.send(RUNS, { job: JOB, reason: "trigger" } satisfies RunRequest, { singletonKey: JOB });
  // Generous for a loaded 2-core machine: 5 minutes, and 3 ms a row.
  const deadlineMs = 5 * 60_000 + rows * 3;
  const run = await until(`the run of ${JOB} and its delivery (${count} worker(s))`, deadlineMs, async () => {
    const dead = workers.find((w) => !alive(w));
    if (dead) throw new Error(`a worker stopped during the run: ${describeWorker(dead)}`);
    const runs = (await state.query<RunRow>("SELECT status, started_at, finished_at, error, \"read\" FROM runs WHERE job = $1 ORDER BY id", [JOB])).rows;
    const last = runs.at(-1);
    if (!last || last.status === "running") return undefined;
    if (last.status !== "succeeded") throw new Error(`run ${last.status}: ${last.error ?? ""}`);
    const busy = await state.query("SELECT 1 FROM outbox WHERE destination = 'hubspot' AND status IN ('pending', 'in_flight') LIMIT 1");
    return busy.rowCount === 0 ? last : undefined;
  });
  const seconds = (performance.now() - t0) / 1000;
  const load = os.loadavg()[0]!;
  const peak = Object.fromEntries(workers.map((w) => [w.id, peakRssMb(w.child.pid!)]));
  const autovacuum = (await state.query<{ autovacuum: string }>("SHOW autovacuum")).rows[0]!.autovacuum;
  const outbox = Object.fromEntries(
    (await state.query<{ status: string; n: number }>("SELECT status, count(*)::int AS n FROM outbox GROUP BY status")).rows.map((r) => [r.status, r.n]),
  );
  // Stopped before their logs are read: each "delivery finished" line is then in.
  await stopWorkers(workers);
  const startedAt = Date.parse(run.started_at);
  const finishedAt = Date.parse(run.finished_at!);
  if (Number(run.read) !== rows) throw new Error(`the run read ${run.read} rows, expected ${rows}`);
  return {
    workers: count,
    seconds,
    pickupSeconds: (startedAt - askedAt) / 1000,
    runSeconds: (finishedAt - startedAt) / 1000,
    tailSeconds: seconds - (finishedAt - askedAt) / 1000,
    heldBy: workers.filter((w) => w.ranRun).map((w) => w.id).join("+") || "?",
    peakRssMb: peak,
    deliveredBy: Object.fromEntries(workers.map((w) => [w.id, w.delivered])),
    outbox,
    load,
    autovacuum,
  };
}

/** A queue as src/cluster/queue.ts creates Ferry's two. */
const STATELY = {
  policy: "stately" as const,
  heartbeatSeconds: 10,
  expireInSeconds: 24 * 60 * 60,
  retryLimit: 10,
  retryDelay: 0,
  deleteAfterSeconds: 7 * 24 * 60 * 60,
};

interface QueueFigures {
  jobs: number;
  /** µs per job for each measure. */
  send: number;
  fetchComplete: number;
  worked: number;
  batch: number;
  insert: number;
  delete: number;
}

const perJobUs = (t0: number, n: number) => ((performance.now() - t0) * 1000) / n;

/** `n` sends, one at a time, each with a key of its own; µs per send. */
async function sendAll(boss: PgBoss, queue: string, n: number, prefix: string): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const key = `${prefix}-${i}`;
    const id = await boss.send(queue, { job: key, reason: "bench" } satisfies RunRequest, { singletonKey: key });
    if (!id) throw new Error(`pg-boss refused job ${key} (a job with its key is waiting already)`);
  }
  return perJobUs(t0, n);
}

/** `n` jobs fetched and completed one at a time, as a worker takes one run request; µs per job. */
async function fetchCompleteAll(boss: PgBoss, queue: string, n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const [job] = await boss.fetch<RunRequest>(queue, { batchSize: 1 });
    if (!job) throw new Error(`queue ${queue} was empty after ${i} of ${n} jobs`);
    await boss.complete(queue, job.id);
  }
  return perJobUs(t0, n);
}

/** `n` queued jobs worked by a no-op handler, `batch` at a time, each batch fetched as soon as the last is done; µs per job. */
async function workAll(boss: PgBoss, queue: string, n: number, batch: number): Promise<number> {
  let seen = 0;
  let allSeen!: () => void;
  const done = new Promise<void>((resolve) => (allSeen = resolve));
  const t0 = performance.now();
  await boss.work(queue, { batchSize: batch, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 }, async (jobs) => {
    seen += jobs.length;
    if (seen >= n) allSeen();
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`pg-boss worked ${seen} of ${n} jobs within 5 minutes`)), 5 * 60_000);
  });
  try {
    await Promise.race([done, deadline]);
  } finally {
    clearTimeout(timer);
  }
  // Waits for the last batch's completion.
  await boss.offWork(queue, { wait: true });
  return perJobUs(t0, n);
}

/** The floor: a row like a job's inserted, then deleted by its id, one statement at a time; µs per statement. */
async function sqlFloor(sql: pg.Client, n: number, prefix: string): Promise<{ insert: number; delete: number }> {
  const ids: string[] = [];
  let t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const key = `${prefix}-${i}`;
    const r = await sql.query<{ id: string }>("INSERT INTO floor_job (key, data) VALUES ($1, $2) RETURNING id", [key, { job: key, reason: "bench" }]);
    ids.push(r.rows[0]!.id);
  }
  const insert = perJobUs(t0, n);
  t0 = performance.now();
  for (const id of ids) await sql.query("DELETE FROM floor_job WHERE id = $1", [id]);
  return { insert, delete: perJobUs(t0, n) };
}

/** pg-boss's cost per job and the bare SQL floor, on a fresh database dropped at the end. */
async function queueOverhead(n: number, batch = 100): Promise<QueueFigures> {
  const database = await createTestDatabase();
  const boss = new PgBoss({
    connectionString: database.url,
    schema: QUEUE_SCHEMA,
    max: 4,
    schedule: false,
    supervise: false,
    registerInstance: false,
    openTelemetry: { enabled: false },
  });
  const sql = new pg.Client({ connectionString: database.url });
  let bossError: unknown;
  boss.on("error", (e: unknown) => (bossError ??= e));
  try {
    await boss.start();
    await sql.connect();
    for (const q of ["bench-warm", "bench-one", "bench-batch"]) await boss.createQueue(q, STATELY);
    // A job's row as pg-boss keeps it, less pg-boss's columns: a uuid key, a unique singleton key, JSON data.
    await sql.query(`CREATE TABLE floor_job (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), key text NOT NULL UNIQUE,
      data jsonb NOT NULL, created_on timestamptz NOT NULL DEFAULT now())`);
    // Warm-up: connections opened, statements planned, caches filled.
    await sendAll(boss, "bench-warm", 100, "warm");
    await fetchCompleteAll(boss, "bench-warm", 100);
    await sqlFloor(sql, 100, "warm");
    // The floor is the better of a measure before pg-boss's and one after: on a shared machine (PostgreSQL
    // checkpointing after the databases dropped before) one measure alone can come out high.
    const before = await sqlFloor(sql, n, "before");
    const send = await sendAll(boss, "bench-one", n, "one");
    const fetchComplete = await fetchCompleteAll(boss, "bench-one", n);
    const after = await sqlFloor(sql, n, "after");
    const floor = { insert: Math.min(before.insert, after.insert), delete: Math.min(before.delete, after.delete) };
    await sendAll(boss, "bench-batch", n, "batch");
    const worked = await workAll(boss, "bench-batch", n, batch);
    const states = await sql.query<{ name: string; n: number }>(
      `SELECT name, count(*)::int AS n FROM ${QUEUE_SCHEMA}.job WHERE state = 'completed' GROUP BY name`,
    );
    const completed = Object.fromEntries(states.rows.map((r) => [r.name, r.n]));
    for (const q of ["bench-one", "bench-batch"]) {
      if (completed[q] !== n) throw new Error(`${completed[q] ?? 0} of ${n} jobs of ${q} completed`);
    }
    if (bossError) throw bossError;
    return { jobs: n, send, fetchComplete, worked, batch, insert: floor.insert, delete: floor.delete };
  } finally {
    await boss.stop({ graceful: false, close: true }).catch(() => {});
    await sql.end().catch(() => {});
    await database.drop().catch((e: unknown) => process.stderr.write(`could not drop ${database.name}: ${(e as Error).message}\n`));
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

function printClusters(rows: number, results: ClusterFigures[]) {
  console.log(
    `\n${fmt(rows)} rows, one first sync by 1-${WORKER_COUNTS.at(-1)} \`ferry serve\` workers (SQLite source, PostgreSQL state, HubSpot emulator`
      + ` in its own process, no rate limit; poll 500ms, delivery_every 1s; ${os.availableParallelism()} cores)`,
  );
  const base = results[0]!.seconds;
  for (const r of results) {
    const rss = Object.entries(r.peakRssMb).map(([id, mb]) => `${id} ${mb.toFixed(0)}`).join(", ");
    const delivered = Object.entries(r.deliveredBy).map(([id, n]) => `${id} ${fmt(n)}`).join(", ");
    const outbox = Object.entries(r.outbox).map(([status, n]) => `${status} ${fmt(n)}`).join(", ");
    console.log(
      `  ${r.workers} worker(s): ${r.seconds.toFixed(2).padStart(7)} s ${fmt(rows / r.seconds).padStart(8)} rows/s  ${(r.seconds / base).toFixed(2)} x the 1-worker time`,
    );
    console.log(
      `      run held by ${r.heldBy}: picked up after ${r.pickupSeconds.toFixed(2)} s, ran ${r.runSeconds.toFixed(2)} s,`
        + ` then ${r.tailSeconds.toFixed(2)} s until nothing was pending`,
    );
    console.log(`      peak RSS (MB): ${rss}; delivered by: ${delivered}; outbox: ${outbox}; load average ${r.load.toFixed(1)}`);
  }
  if (results.some((r) => r.autovacuum === "off")) {
    console.log(
      "  PostgreSQL's autovacuum is off: the state tables are never analyzed while a first sync fills them, and their"
        + " lookups can slow down as they grow",
    );
  }
}

function printQueue(q: QueueFigures) {
  const row = (name: string, boss: number, floor: number, floorName: string) =>
    console.log(
      `  ${name.padEnd(36)} ${boss.toFixed(0).padStart(6)} µs   ${floorName.padEnd(16)} ${floor.toFixed(0).padStart(6)} µs   ${(boss / floor).toFixed(1)} x`,
    );
  console.log(
    `\npg-boss's own cost per queued job: ${fmt(q.jobs)} jobs, distinct singleton keys, a stately queue as Ferry's (schema ${QUEUE_SCHEMA}),`
      + " one at a time; beside bare SQL on the same database",
  );
  console.log(`  ${"pg-boss".padEnd(36)} ${"".padStart(9)}   ${"bare SQL (floor)"}`);
  row("send", q.send, q.insert, "INSERT");
  row("fetch + complete", q.fetchComplete, q.delete, "DELETE");
  row("send + fetch + complete, end to end", q.send + q.fetchComplete, q.insert + q.delete, "INSERT + DELETE");
  console.log(
    `  worked by a no-op handler (work(), batches of ${q.batch} fetched back to back): ${q.worked.toFixed(0)} µs a job;`
      + ` send + work ${(q.send + q.worked).toFixed(0)} µs a job end to end`,
  );
}

export async function benchWorkers(sizes: number[]): Promise<void> {
  for (const rows of sizes) {
    process.stderr.write(`workers: generating ${rows} rows… `);
    ensureSource(rows);
    process.stderr.write("done\n");
    const results: ClusterFigures[] = [];
    for (const count of WORKER_COUNTS) {
      process.stderr.write(`workers: ${rows} rows, ${count} worker(s)… `);
      results.push(await cluster(rows, count));
      process.stderr.write(`${results.at(-1)!.seconds.toFixed(1)} s\n`);
    }
    printClusters(rows, results);
  }
  process.stderr.write(`workers: pg-boss, ${QUEUE_JOBS} jobs… `);
  const queue = await queueOverhead(QUEUE_JOBS);
  process.stderr.write("done\n");
  printQueue(queue);
}
