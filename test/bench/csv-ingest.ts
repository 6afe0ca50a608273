/**
 * A CSV file dropped into a watched folder, end to end into the state store (taken, hashed, parsed,
 * mapped, diffed, merged, planned, committed, archived with its report), beside csv-parse's own object
 * rate on the same file measured in the same process (the better of a measure before and one after).
 * Each size runs in a fresh process started as `ferry` starts Node, so its peak RSS is its own.
 *
 *   npm run bench -- --suite csv                 # 100k and 1M rows
 *   npm run bench -- --suite csv --rows 200000
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "csv-parse";
import { LAUNCHER_FLAGS } from "./sql-extract.ts";

const root = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
const benchDir = path.join(root, ".ferry", "bench");
const COLUMNS = ["ITEM_ID", "NAME", "CITY", "COUNTRY", "EMAIL", "STATUS", "QTY", "RANK", "PRICE", "UPDATED_AT"];

const csvPath = (rows: number) => path.join(benchDir, `items-${rows}.csv`);

/** Generated in the parent, so that building it does not count in a child's peak RSS. */
function ensureCsv(rows: number): string {
  const file = csvPath(rows);
  if (existsSync(file) && statSync(file).size > rows * 50) return file;
  mkdirSync(benchDir, { recursive: true });
  const cities = ["Berlin", "Lyon", "Porto", "Turin", "Gdańsk", "Malmö"];
  const lines: string[] = [COLUMNS.join(",")];
  const out: string[] = [];
  for (let i = 1; i <= rows; i++) {
    const at = new Date(Date.UTC(2020, 0, 1) + i * 60_000).toISOString().replace("T", " ").slice(0, 19);
    lines.push(
      `${i},"Item ${i}, the ${i % 2 ? "first" : "second"}",${cities[i % 6]},${["DE", "FR", "PT", "IT", "PL", "SE"][i % 6]},item${i}@example.com,${i % 7 ? "active" : "inactive"},${i % 1000},${(i * 7919) % 100_000},${(i % 10_000) / 100},${at}`,
    );
    if (lines.length >= 50_000) {
      out.push(lines.join("\r\n"));
      lines.length = 0;
    }
  }
  out.push(lines.join("\r\n"));
  writeFileSync(file, `${out.join("\r\n")}\r\n`);
  return file;
}

function projectFiles(dir: string) {
  rmSync(dir, { recursive: true, force: true });
  for (const sub of ["jobs", "mappings", "drop"]) mkdirSync(path.join(dir, sub), { recursive: true });
  writeFileSync(
    path.join(dir, "ferry.yaml"),
    `state: { path: state.db }
destinations:
  hubspot: { type: hubspot, base_url: "http://127.0.0.1:9", token: "\${env:HUBSPOT_TOKEN}" }
`,
  );
  const types: Record<string, string> = { ITEM_ID: "integer", QTY: "integer", RANK: "integer", PRICE: "decimal", UPDATED_AT: "datetime", EMAIL: "email" };
  const field = (c: string) => c.toLowerCase();
  writeFileSync(
    path.join(dir, "mappings", "item.yaml"),
    `entity: item
key: item_id
fields:
${COLUMNS.map((c) => `  ${field(c)}: { type: ${types[c] ?? "string"}${c === "ITEM_ID" ? "" : ", rule: { owner: drop }"} }`).join("\n")}
sources:
  drop:
${COLUMNS.map((c) => `    ${field(c)}: ${c}`).join("\n")}
destinations:
  hubspot:
    object: items
    match: { property: item_id }
    fields:
${COLUMNS.map((c) => `      ${field(c)}: ${field(c)}`).join("\n")}
`,
  );
  writeFileSync(
    path.join(dir, "jobs", "items.yaml"),
    `source: { type: folder, path: drop, pattern: "*.csv", ready: { stable_for: 10ms }, format: { format: csv } }
mapping: item
as: drop
mode: snapshot
batch_size: 1000
deletes: { policy: ignore }
`,
  );
}

async function rawRate(file: string): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  for await (const record of createReadStream(file).pipe(parse({ columns: true }))) if (record) n++;
  return n / ((performance.now() - t0) / 1000);
}

async function child(rows: number) {
  const file = csvPath(rows);
  const { loadProject, getJob } = await import("../../src/project.ts");
  const { openStateStore } = await import("../../src/state/store.ts");
  const { runJob } = await import("../../src/runner/run-job.ts");
  const { silentLogger } = await import("../../src/log.ts");
  const raw = await rawRate(file);
  const dir = path.join(benchDir, `csv-project-${rows}`);
  projectFiles(dir);
  copyFileSync(file, path.join(dir, "drop", "items.csv"));
  const project = loadProject(path.join(dir, "ferry.yaml"), { ...process.env, HUBSPOT_TOKEN: "bench" });
  const store = await openStateStore(project.config.state, project.dir);
  const t0 = performance.now();
  const result = await runJob(project, getJob(project, "items"), store, { log: silentLogger });
  const seconds = (performance.now() - t0) / 1000;
  const check = (r: typeof result) => {
    const f = r.files?.[0];
    if (r.status !== "succeeded" || !f || f.report.read !== rows) {
      throw new Error(`run ${r.status}: ${r.error?.message ?? ""} (${f?.report.read} lines reported)`);
    }
  };
  check(result);
  // The next night's file: the same rows, 1% of them changed.
  const next = createWriteStream(path.join(dir, "drop", "items-next.csv"));
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (!next.write(`${line.replace(/^(\d*00),"Item /, "$1,\"Renamed item ")}\r\n`)) await once(next, "drain");
  }
  next.end();
  await once(next, "close");
  const t1 = performance.now();
  const second = await runJob(project, getJob(project, "items"), store, { log: silentLogger });
  const nextSeconds = (performance.now() - t1) / 1000;
  check(second);
  await store.close();
  // The limit is csv-parse's best rate of two measures, one before and one after Ferry's runs: on a
  // shared machine one measure alone can come out low, which would flatter the ratio.
  const rawAgain = await rawRate(file);
  console.log(
    JSON.stringify({
      rows,
      raw: Math.max(raw, rawAgain),
      ferry: rows / seconds,
      seconds,
      next: rows / nextSeconds,
      nextSeconds,
      nextChanged: second.counts.changed,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    }),
  );
}

export async function benchCsvIngest(sizes: number[]): Promise<void> {
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const results: {
    rows: number;
    raw: number;
    ferry: number;
    seconds: number;
    next: number;
    nextSeconds: number;
    nextChanged: number;
    peakRssMb: number;
  }[] = [];
  for (const rows of sizes) {
    process.stderr.write(`csv: ${rows} rows… `);
    ensureCsv(rows);
    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, [...LAUNCHER_FLAGS, fileURLToPath(import.meta.url), String(rows)], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let text = "";
      c.stdout.on("data", (d: Buffer) => {
        text += d.toString();
      });
      c.once("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`csv bench for ${rows} rows exited with ${code}`))));
    });
    process.stderr.write("done\n");
    results.push(JSON.parse(out.trim().split("\n").at(-1)!) as (typeof results)[number]);
  }
  console.log("\nCSV dropped into a watched folder, 10 columns, end to end into the state store");
  for (const r of results) {
    console.log(`  ${fmt(r.rows)} rows: raw csv-parse objects ${fmt(r.raw)} /s; peak RSS ${r.peakRssMb.toFixed(0)} MB`);
    console.log(
      `    first file (every row new):  ${fmt(r.ferry).padStart(9)} rows/s (${r.seconds.toFixed(1)} s) = ${(r.ferry / r.raw).toFixed(2)} x raw`,
    );
    console.log(
      `    next file (1% changed):      ${fmt(r.next).padStart(9)} rows/s (${r.nextSeconds.toFixed(1)} s) = ${(r.next / r.raw).toFixed(2)} x raw; ${fmt(r.nextChanged)} changed`,
    );
  }
  if (results.length >= 2) {
    const [a, b] = [results[0]!, results.at(-1)!];
    console.log(`  peak RSS ${fmt(b.rows)} vs ${fmt(a.rows)} rows: ${((100 * (b.peakRssMb - a.peakRssMb)) / a.peakRssMb).toFixed(0)}%`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await child(Number(process.argv[2]));
