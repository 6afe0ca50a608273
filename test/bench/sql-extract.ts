/**
 * The `sql` source's extract rate on each live dialect, beside the driver's own raw rate measured in the
 * same process: PostgreSQL (raw: a server-side cursor fetched 10 000 rows at a time through `pg`),
 * MariaDB (raw: mysql2's row stream) and SQLite (raw: better-sqlite3's iterate). Each size runs in a
 * fresh process started with the `ferry` launcher's heap settings, so its peak RSS is its own and what
 * `ferry run` would show. FERRY_BENCH_ONLY=raw|ferry runs one side alone, to see each one's memory.
 *
 *   npm run bench -- --suite sql                 # 100k and 1M rows
 *   npm run bench -- --suite sql --rows 200000
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import mysql from "mysql2/promise";
import pg from "pg";
import { silentLogger } from "../../src/log.ts";
import { createSqlSource } from "../../src/sources/sql/sql.source.ts";
import { sqlConnectionSchema, sqlSourceSchema } from "../../src/sources/sql/sql.config.ts";
import { MYSQL_BASE_URL, mysqlUnavailableReason } from "../support/mysql.ts";
import { PG_BASE_URL, pgUnavailableReason } from "../support/pg.ts";
import { runContext } from "../../src/run-context.ts";

type Dialect = "postgres" | "mysql" | "sqlite";
/** As bin/ferry.js starts Node, with the heap settings of src/cli/heap.ts. */
export const LAUNCHER_FLAGS = ["--max-semi-space-size=16", "--import", fileURLToPath(new URL("../../src/cli/heap.ts", import.meta.url))];
const BATCH = 1000;
const SQLITE_FILE = fileURLToPath(new URL("../../.ferry/bench/extract.db", import.meta.url));

const database = (base: string, name: string) => {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
};

const COLUMNS = `item_id, name, city, country, email, status, qty, rank, price, updated_at`;

/** A 10-column table of `rows` rows in database `ferry_bench` (created once, kept between runs). */
async function ensureTable(dialect: Dialect, rows: number): Promise<string> {
  const table = `items_${rows}`;
  if (dialect === "sqlite") {
    mkdirSync(path.dirname(SQLITE_FILE), { recursive: true });
    const db = new Database(SQLITE_FILE);
    const found = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = ?").get(table) as { n: number };
    if (found.n === 0) {
      db.exec(`CREATE TABLE ${table} (item_id INTEGER PRIMARY KEY, name TEXT, city TEXT, country TEXT, email TEXT,
        status TEXT, qty INTEGER, rank INTEGER, price TEXT, updated_at TEXT);
        WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ${rows})
        INSERT INTO ${table} SELECT i, 'Item ' || i, 'Lyon', 'FR', 'item' || i || '@example.com',
          CASE WHEN i % 7 = 0 THEN 'inactive' ELSE 'active' END, i % 1000, (i * 7919) % 100000,
          printf('%.2f', (i % 10000) / 100.0), datetime('2020-01-01', '+' || i || ' minutes') FROM seq;`);
    }
    db.close();
    return table;
  }
  if (dialect === "postgres") {
    const admin = new pg.Client({ connectionString: PG_BASE_URL });
    await admin.connect();
    const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = 'ferry_bench'");
    if (exists.rowCount === 0) await admin.query("CREATE DATABASE ferry_bench");
    await admin.end();
    const c = new pg.Client({ connectionString: database(PG_BASE_URL, "ferry_bench") });
    await c.connect();
    const n = await c.query(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = '${table}'`);
    if (n.rows[0].n === 0) {
      await c.query("BEGIN");
      await c.query(`CREATE TABLE ${table} (item_id bigint PRIMARY KEY, name text, city text, country char(2), email text,
        status text, qty int, rank int, price numeric(10,2), updated_at timestamp)`);
      await c.query(`INSERT INTO ${table} SELECT i, 'Item ' || i, (ARRAY['Berlin','Lyon','Porto','Turin','Gdańsk','Malmö'])[i % 6 + 1],
        (ARRAY['DE','FR','PT','IT','PL','SE'])[i % 6 + 1], 'item' || i || '@example.com', CASE WHEN i % 7 = 0 THEN 'inactive' ELSE 'active' END,
        i % 1000, (i * 7919) % 100000, (i % 10000) / 100.0, timestamp '2020-01-01' + i * interval '1 minute'
        FROM generate_series(1::bigint, ${rows}) AS i`);
      await c.query("COMMIT");
      await c.query(`VACUUM ANALYZE ${table}`);
    }
    await c.end();
  } else {
    const admin = await mysql.createConnection(MYSQL_BASE_URL);
    await admin.query("CREATE DATABASE IF NOT EXISTS ferry_bench CHARACTER SET utf8mb4");
    await admin.query("USE ferry_bench");
    const [found] = await admin.query(`SHOW TABLES LIKE '${table}'`);
    if ((found as unknown[]).length === 0) {
      await admin.query(`CREATE TABLE ${table} (item_id bigint PRIMARY KEY, name varchar(64), city varchar(32), country char(2),
        email varchar(64), status varchar(16), qty int, \`rank\` int, price decimal(10,2), updated_at datetime)`);
      // MariaDB's Sequence engine gives seq_1_to_N tables.
      await admin.query(`INSERT INTO ${table} SELECT seq, CONCAT('Item ', seq), ELT(seq % 6 + 1, 'Berlin','Lyon','Porto','Turin','Gdańsk','Malmö'),
        ELT(seq % 6 + 1, 'DE','FR','PT','IT','PL','SE'), CONCAT('item', seq, '@example.com'), IF(seq % 7 = 0, 'inactive', 'active'),
        seq % 1000, (seq * 7919) % 100000, (seq % 10000) / 100, TIMESTAMP '2020-01-01 00:00:00' + INTERVAL seq MINUTE
        FROM seq_1_to_${rows}`);
    }
    await admin.end();
  }
  return table;
}

/** The driver alone: every row read, nothing done with it. */
async function rawRate(dialect: Dialect, table: string): Promise<{ rows: number; seconds: number }> {
  const t0 = performance.now();
  let rows = 0;
  if (dialect === "sqlite") {
    const db = new Database(SQLITE_FILE, { readonly: true });
    for (const row of db.prepare(`SELECT ${COLUMNS} FROM ${table}`).iterate()) if (row) rows++;
    db.close();
  } else if (dialect === "postgres") {
    const c = new pg.Client({ connectionString: database(PG_BASE_URL, "ferry_bench") });
    await c.connect();
    await c.query("BEGIN READ ONLY");
    await c.query(`DECLARE raw_cursor NO SCROLL CURSOR FOR SELECT ${COLUMNS} FROM ${table}`);
    for (;;) {
      const r = await c.query("FETCH 10000 FROM raw_cursor");
      rows += r.rowCount ?? 0;
      if ((r.rowCount ?? 0) < 10000) break;
    }
    await c.query("COMMIT");
    await c.end();
  } else {
    const c = await mysql.createConnection({ uri: database(MYSQL_BASE_URL, "ferry_bench"), supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
    const stream = (c as unknown as { connection: { query(sql: string): { stream(): AsyncIterable<unknown> } } }).connection.query(`SELECT * FROM ${table}`).stream();
    for await (const row of stream) if (row) rows++;
    await c.end();
  }
  return { rows, seconds: (performance.now() - t0) / 1000 };
}

/** Ferry's source: keyset pages, read-only transactions, canonical values, batches of the job's size. */
async function ferryRate(dialect: Dialect, table: string): Promise<{ rows: number; seconds: number }> {
  const connection = sqlConnectionSchema.parse(
    dialect === "sqlite"
      ? { dialect, path: SQLITE_FILE }
      : {
          dialect,
          url: database(dialect === "postgres" ? PG_BASE_URL : MYSQL_BASE_URL, "ferry_bench"),
          tls: { mode: "disable" },
          // The servers' admin logins, which a read refuses unless allowed.
          allow_privileged_login: true,
        },
  );
  const source = createSqlSource(
    sqlSourceSchema.parse({ type: "sql", connection: "bench", query: `SELECT * FROM ${table}` }),
    { ...runContext({ baseDir: process.cwd(), log: silentLogger, env: process.env, file: "jobs/bench.yaml", block: "source" }), connections: { bench: connection } },
  );
  const t0 = performance.now();
  let rows = 0;
  for await (const batch of source.read({ mode: "snapshot", batchSize: BATCH, keyColumn: "item_id", signal: new AbortController().signal })) {
    rows += batch.rows.length + batch.rejects.length;
  }
  const seconds = (performance.now() - t0) / 1000;
  await source.close();
  return { rows, seconds };
}

async function child(dialect: Dialect, rows: number) {
  const table = await ensureTable(dialect, rows);
  // Warm the server's cache so that neither side pays for the first read from disk.
  const only = process.env.FERRY_BENCH_ONLY;
  if (only !== "ferry") await rawRate(dialect, table);
  const raw = only === "ferry" ? { rows, seconds: Number.NaN } : await rawRate(dialect, table);
  const ferry = only === "raw" ? { rows, seconds: Number.NaN } : await ferryRate(dialect, table);
  if (raw.rows !== rows || ferry.rows !== rows) throw new Error(`read ${raw.rows} raw and ${ferry.rows} through Ferry, expected ${rows}`);
  console.log(JSON.stringify({ dialect, rows, raw, ferry, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
}

interface Result {
  dialect: Dialect;
  rows: number;
  raw: { seconds: number };
  ferry: { seconds: number };
  peakRssMb: number;
}

const RAW_NAMES = { postgres: "raw pg cursor, FETCH 10000", mysql: "raw mysql2 row stream", sqlite: "raw better-sqlite3 iterate" };
const TITLES = { postgres: "PostgreSQL", mysql: "MariaDB", sqlite: "SQLite" };

export async function benchSqlExtract(sizes: number[]): Promise<void> {
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  for (const dialect of ["postgres", "mysql", "sqlite"] as const) {
    const missing = dialect === "sqlite" ? null : await (dialect === "postgres" ? pgUnavailableReason() : mysqlUnavailableReason());
    if (missing) {
      console.log(`\n${dialect}: skipped (${missing})`);
      continue;
    }
    const results: Result[] = [];
    for (const rows of sizes) {
      process.stderr.write(`${dialect}: ${rows} rows… `);
      const out = await new Promise<string>((resolve, reject) => {
        const c = spawn(process.execPath, [...LAUNCHER_FLAGS, fileURLToPath(import.meta.url), dialect, String(rows)], {
          stdio: ["ignore", "pipe", "inherit"],
        });
        let text = "";
        c.stdout.on("data", (d: Buffer) => {
          text += d.toString();
        });
        c.once("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`${dialect} bench for ${rows} rows exited with ${code}`))));
      });
      process.stderr.write("done\n");
      results.push(JSON.parse(out.trim().split("\n").at(-1)!) as Result);
    }
    const rawName = RAW_NAMES[dialect];
    console.log(`\n${TITLES[dialect]} extract, 10 columns, batch ${BATCH} (the job default)`);
    for (const r of results) {
      const rawRate = r.rows / r.raw.seconds;
      const ferryRate = r.rows / r.ferry.seconds;
      console.log(`  ${fmt(r.rows).padStart(9)} rows  ${rawName}: ${fmt(rawRate).padStart(9)} rows/s   Ferry sql source: ${fmt(ferryRate).padStart(9)} rows/s = ${(ferryRate / rawRate).toFixed(2)} x raw   peak RSS ${r.peakRssMb.toFixed(0)} MB`);
    }
    if (results.length >= 2) {
      const [a, b] = [results[0]!, results.at(-1)!];
      console.log(`  peak RSS ${fmt(b.rows)} vs ${fmt(a.rows)} rows: ${((100 * (b.peakRssMb - a.peakRssMb)) / a.peakRssMb).toFixed(0)}%`);
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await child(process.argv[2] as Dialect, Number(process.argv[3]));
}
