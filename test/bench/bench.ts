/**
 * `npm run bench`: Ferry's throughput and memory on a generated 1M-row, 10-column legacy table (SQLite),
 * synced into the HubSpot emulator (running in its own process, rate limit off), state in SQLite.
 *
 * For each size (100k and 1M rows, each in a fresh process so peak RSS is its own) it times:
 *   - the raw read+hash rate of the table (better-sqlite3 iterate + the same hash Ferry uses): the limit;
 *   - a full first sync (read, map, hash, merge, state writes, delivery of every record);
 *   - a re-run with nothing changed;
 *   - a re-run with 1% of the rows changed, checking that exactly those are pushed;
 *   - the state store's write floor (stateWriteFloor), which bounds what a first sync can reach.
 * It prints rows/s, each as a ratio to the limit, and peak RSS. It never fails on a timing.
 *
 *   npm run bench                 # 100k and 1M, every suite
 *   npm run bench -- --rows 200000
 *   npm run bench -- --suite sync  # this sync only; `--suite sql`: extract from live servers (sql-extract.ts);
 *                                  # `--suite csv`: a CSV dropped into a watched folder (csv-ingest.ts)
 *   npm run bench -- --suite delivery [--changes 100000]   # 100k changes to rate-limited emulators (delivery.ts)
 *   npm run bench -- --suite workers [--rows 100000]        # one run's first sync by 1, 2 and 3 `ferry serve`
 *                                  # workers on PostgreSQL state (1M rows unless --rows), and pg-boss's own
 *                                  # cost per queued job beside bare SQL (workers.ts)
 *
 * The legacy table, its project and the emulator's process are shared with the workers suite (legacy-items.ts).
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { benchCsvIngest } from "./csv-ingest.ts";
import { benchDelivery } from "./delivery.ts";
import { benchDir, ensureSource, projectFiles, sourcePath, startEmulatorProcess } from "./legacy-items.ts";
import { benchSqlExtract, LAUNCHER_FLAGS } from "./sql-extract.ts";
import { benchWorkers } from "./workers.ts";

const args = parseArgs({
  options: {
    rows: { type: "string", multiple: true },
    child: { type: "string" },
    suite: { type: "string", multiple: true },
    changes: { type: "string" },
  },
}).values;

function rawReadHash(
  file: string,
  rows: number,
  hashRow: (row: Record<string, unknown>, columns: string[], signature: string) => string,
): number {
  const db = new Database(file, { readonly: true });
  const t0 = performance.now();
  let n = 0;
  let last = "";
  let columns: string[] | undefined;
  for (const row of db.prepare("SELECT * FROM items").iterate() as Iterable<Record<string, unknown>>) {
    columns ??= Object.keys(row);
    // The digest Ferry takes of each row, with a signature as long as a mapping's.
    last = hashRow(row, columns, "0123456789abcdefghijklmnopq=");
    n++;
  }
  const s = (performance.now() - t0) / 1000;
  db.close();
  if (n !== rows || !last) throw new Error(`read ${n} rows, expected ${rows}`);
  return s;
}

/**
 * The least a state write can cost here: rows the size of a snapshot row inserted into a table with no
 * index at all, a thousand per transaction, with the state store's settings. Every new record costs four
 * such rows at least (its snapshot, golden record and outbox row, and its destination record once
 * delivered), which bounds a first sync's rate whatever the engine does.
 */
function stateWriteFloor(rows: number): number {
  const file = path.join(benchDir, "write-floor.db");
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  const db = new Database(file);
  db.pragma("page_size = 16384");
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec("CREATE TABLE t (entity TEXT, key TEXT, source TEXT, hash TEXT, vals TEXT, observed_at TEXT, run_id INTEGER)");
  const insert = db.prepare("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)");
  const at = new Date().toISOString();
  const n = Math.min(rows, 100_000);
  const t0 = performance.now();
  for (let b = 0; b < n; b += 1000) {
    db.transaction(() => {
      for (let i = b; i < b + 1000; i++) {
        const vals = `{"item_id":${i},"name":"Item ${i}","city":"Berlin","country":"DE","email":"item${i}@example.com","status":"active","qty":${i % 1000},"rank":${i % 97},"price":"12.34","updated_at":"2020-01-01T00:00:00"}`;
        insert.run("item", String(i), "legacy", "0123456789abcdefghijklmnopq=", vals, at, 1);
      }
    })();
  }
  const seconds = (performance.now() - t0) / n / 1000;
  db.close();
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  return seconds;
}

/** One size, in its own process: prints one JSON line of figures. */
async function child(rows: number) {
  const { loadProject, getJob } = await import("../../src/project.ts");
  const { openStateStore } = await import("../../src/state/store.ts");
  const { runJob } = await import("../../src/runner/run-job.ts");
  const { deliverAll } = await import("../../src/delivery/deliver.ts");
  const { createDestinations } = await import("../../src/cli/context.ts");
  const { silentLogger } = await import("../../src/log.ts");
  const { hashRow } = await import("../../src/engine/diff.ts");

  const source = sourcePath(rows);
  const dir = path.join(benchDir, `project-${rows}`);
  projectFiles(dir, source);
  const emulator = await startEmulatorProcess();
  const project = loadProject(path.join(dir, "ferry.yaml"), {
    ...process.env,
    HUBSPOT_BASE_URL: emulator.url,
    HUBSPOT_TOKEN: "bench",
  });
  const store = await openStateStore(project.config.state, project.dir);
  const job = getJob(project, "items");
  const log = silentLogger;
  const destinations = createDestinations(project, log);

  const sync = async () => {
    const t0 = performance.now();
    const result = await runJob(project, job, store, { log });
    const t1 = performance.now();
    const tally = (await deliverAll(project, store, destinations, { log })).get("hubspot")!;
    const t2 = performance.now();
    if (result.status !== "succeeded") throw new Error(`run ${result.status}: ${result.error?.message}`);
    return {
      seconds: (t2 - t0) / 1000,
      extract: (t1 - t0) / 1000,
      deliver: (t2 - t1) / 1000,
      counts: result.counts,
      tally,
    };
  };

  const raw = rawReadHash(source, rows, hashRow);
  const floor = stateWriteFloor(rows);
  const full = await sync();
  const none = await sync();
  const db = new Database(source);
  const changed = db
    .prepare("UPDATE items SET CITY = CITY || ' (moved)' WHERE ITEM_ID % 100 = 0")
    .run().changes;
  db.close();
  const some = await sync();
  // Put the source back, so the next bench run starts from the same table.
  const restore = new Database(source);
  restore.prepare("UPDATE items SET CITY = substr(CITY, 1, length(CITY) - 8) WHERE ITEM_ID % 100 = 0").run();
  restore.close();

  await store.close();
  await emulator.stop();
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(
    JSON.stringify({
      rows,
      raw,
      floor,
      full,
      none,
      some,
      changed,
      pushedOnChange: some.tally.updated + some.tally.created,
      peakRssMb,
    }),
  );
}

async function main() {
  const sizes = (args.rows ?? ["100000", "1000000"]).map(Number);
  const suites = args.suite ?? ["sync", "sql", "csv", "delivery", "workers"];
  if (suites.includes("sync")) await benchSync(sizes);
  if (suites.includes("sql")) await benchSqlExtract(sizes);
  if (suites.includes("csv")) await benchCsvIngest(sizes);
  if (suites.includes("delivery")) await benchDelivery(args.changes ? Number(args.changes) : undefined);
  // Three first syncs on PostgreSQL state per size: 1M rows alone unless sizes are asked for.
  if (suites.includes("workers")) await benchWorkers(args.rows ? sizes : [1_000_000]);
}

async function benchSync(sizes: number[]) {
  const results: Record<string, unknown>[] = [];
  for (const rows of sizes) {
    process.stderr.write(`generating ${rows} rows… `);
    ensureSource(rows);
    process.stderr.write("benchmarking…\n");
    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn(
        process.execPath,
        ["--expose-gc", ...LAUNCHER_FLAGS, fileURLToPath(import.meta.url), "--child", String(rows)],
        {
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
      let text = "";
      c.stdout.on("data", (d: Buffer) => {
        text += d.toString();
      });
      c.once("exit", (code) =>
        code === 0 ? resolve(text) : reject(new Error(`bench for ${rows} rows exited with ${code}`)),
      );
    });
    results.push(JSON.parse(out.trim().split("\n").at(-1)!));
  }
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  for (const r of results as {
    rows: number;
    raw: number;
    floor: number;
    full: { seconds: number; extract: number; deliver: number };
    none: { seconds: number };
    some: { seconds: number };
    changed: number;
    pushedOnChange: number;
    peakRssMb: number;
  }[]) {
    const limit = r.rows / r.raw;
    const line = (name: string, seconds: number, extra = "") =>
      console.log(
        `  ${name.padEnd(28)} ${seconds.toFixed(2).padStart(7)} s ${fmt(r.rows / seconds).padStart(10)} rows/s  ${(r.rows / seconds / limit).toFixed(2)} x limit${extra}`,
      );
    console.log(
      `\n${fmt(r.rows)} rows, 10 columns (SQLite source, SQLite state, HubSpot emulator with no rate limit)`,
    );
    line("raw read+hash (the limit)", r.raw);
    line(
      "full first sync",
      r.full.seconds,
      `  (extract ${r.full.extract.toFixed(2)} s + deliver ${r.full.deliver.toFixed(2)} s)`,
    );
    line("re-run, nothing changed", r.none.seconds);
    line(
      "re-run, 1% changed",
      r.some.seconds,
      `  (${(r.some.seconds / r.none.seconds).toFixed(2)} x no-change time; ${fmt(r.pushedOnChange)} pushed for ${fmt(r.changed)} changed)`,
    );
    console.log(`  peak RSS ${r.peakRssMb.toFixed(0)} MB`);
    const floorSeconds = 4 * r.floor * r.rows;
    console.log(
      `  state write floor: ${(r.floor * 1e6).toFixed(2)} µs per row into a table without indexes; four rows per new record`
        + ` take ${floorSeconds.toFixed(2)} s alone, so a first sync reaches at most ${(r.raw / (r.raw + floorSeconds)).toFixed(2)} x limit`,
    );
  }
  if (results.length >= 2) {
    const [a, b] = results as { rows: number; peakRssMb: number }[];
    console.log(
      `\npeak RSS ${fmt(b!.rows)} vs ${fmt(a!.rows)} rows: ${((100 * (b!.peakRssMb - a!.peakRssMb)) / a!.peakRssMb).toFixed(0)}%`,
    );
  }
}

if (args.child) await child(Number(args.child));
else await main();
