/**
 * What the sync and workers suites share: the generated legacy table (SQLite, an integer key and nine
 * columns), a Ferry project syncing it into HubSpot with a snapshot job, and the HubSpot emulator in a
 * process of its own (rate limit off, request bodies and effects not recorded), so that its work does not
 * count in the figures of the process measured.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";

export const root = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const benchDir = path.join(root, ".ferry", "bench");

export function sourcePath(rows: number) {
  return path.join(benchDir, `source-${rows}.db`);
}

/** A legacy-looking table: integer key and nine columns of text, numbers, a decimal and a timestamp. */
export function ensureSource(rows: number) {
  const file = sourcePath(rows);
  if (existsSync(file)) {
    const db = new Database(file, { readonly: true });
    const n = (db.prepare("SELECT COUNT(*) AS n FROM items").get() as { n: number }).n;
    db.close();
    if (n === rows) return file;
  }
  mkdirSync(benchDir, { recursive: true });
  rmSync(file, { force: true });
  const db = new Database(file);
  db.pragma("journal_mode = OFF");
  db.exec(`CREATE TABLE items (ITEM_ID INTEGER PRIMARY KEY, NAME TEXT, CITY TEXT, COUNTRY TEXT, EMAIL TEXT, STATUS TEXT,
    QTY INTEGER, RANK INTEGER, PRICE TEXT, UPDATED_AT TEXT)`);
  const insert = db.prepare("INSERT INTO items VALUES (?,?,?,?,?,?,?,?,?,?)");
  const cities = ["Berlin", "Lyon", "Porto", "Turin", "Gdańsk", "Malmö", "Brno", "Graz"];
  db.transaction(() => {
    for (let i = 1; i <= rows; i++) {
      insert.run(
        i,
        `Item ${i}`,
        cities[i % cities.length],
        ["DE", "FR", "PT", "IT", "PL", "SE", "CZ", "AT"][i % 8],
        `item${i}@example.com`,
        i % 7 === 0 ? "inactive" : "active",
        i % 1000,
        (i * 7919) % 100_000,
        `${(i % 10_000) / 100}`,
        new Date(Date.UTC(2020, 0, 1) + i * 60_000).toISOString().replace("T", " ").slice(0, 19),
      );
    }
  })();
  db.close();
  return file;
}

/**
 * The project: ferry.yaml (`settings` are its lines before `connections`: where state lives and, for
 * `ferry serve` workers, `run_lease` and `serve`), the item mapping and the snapshot job `items`.
 */
export function projectFiles(dir: string, source: string, settings = "state: { path: state.db }") {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, "jobs"), { recursive: true });
  mkdirSync(path.join(dir, "mappings"), { recursive: true });
  writeFileSync(
    path.join(dir, "ferry.yaml"),
    `${settings}
connections:
  legacy: { dialect: sqlite, path: ${JSON.stringify(source)} }
destinations:
  hubspot: { type: hubspot, base_url: "\${env:HUBSPOT_BASE_URL}", token: "\${env:HUBSPOT_TOKEN}", rate_limit: null, concurrency: 4 }
`,
  );
  const fields = [
    "item_id",
    "name",
    "city",
    "country",
    "email",
    "status",
    "qty",
    "rank",
    "price",
    "updated_at",
  ];
  const types: Record<string, string> = {
    item_id: "integer",
    qty: "integer",
    rank: "integer",
    price: "decimal",
    updated_at: "datetime",
    email: "email",
  };
  writeFileSync(
    path.join(dir, "mappings", "item.yaml"),
    `entity: item
key: item_id
fields:
${fields.map((f) => `  ${f}: { type: ${types[f] ?? "string"}${f === "item_id" ? "" : ", rule: { owner: legacy }"} }`).join("\n")}
sources:
  legacy:
${fields.map((f) => `    ${f}: ${f.toUpperCase()}`).join("\n")}
destinations:
  hubspot:
    object: items
    match: { property: item_id }
    fields:
${fields.map((f) => `      ${f}: ${f}`).join("\n")}
`,
  );
  writeFileSync(
    path.join(dir, "jobs", "items.yaml"),
    `source: { type: sql, connection: legacy, query: "SELECT * FROM items" }
mapping: item
as: legacy
mode: snapshot
batch_size: 1000
deletes: { policy: propagate, max_share: 0.2 }
`,
  );
}

export interface EmulatorProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * The HubSpot emulator in its own process (fixtures/hubspot-emulator/main.ts: no rate limit, no bodies or
 * effects recorded), item_id unique on items. Fails past `startMs` without its "listening on" line, with
 * the process killed; `stop` waits at most 10 s for it to exit, then kills it.
 */
export async function startEmulatorProcess(startMs = 30_000): Promise<EmulatorProcess> {
  const child = spawn(
    process.execPath,
    [path.join(root, "fixtures/hubspot-emulator/main.ts"), "--unique", "items:item_id"],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let timer: NodeJS.Timeout | undefined;
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      timer = setTimeout(() => reject(new Error(`the HubSpot emulator did not start within ${startMs} ms`)), startMs);
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /listening on (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`emulator exited with ${code}`)));
    });
    return {
      url,
      pid: child.pid!,
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await gone;
        clearTimeout(killer);
      },
    };
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
