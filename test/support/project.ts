/**
 * A throwaway Ferry project for integration tests: a temp folder with ferry.yaml, mappings and jobs, a
 * legacy SQLite database (connection `legacy`), any other files (CSV), a started HubSpot emulator, and
 * the state store on SQLite or on a fresh PostgreSQL database, so the same scenario runs on both.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { stringify } from "yaml";
import {
  type HubSpotEmulator,
  type HubSpotEmulatorOptions,
  startHubSpotEmulator,
} from "../../fixtures/hubspot-emulator/emulator.ts";
import { createDestinations } from "../../src/cli/context.ts";
import { getJob, loadProject, type Project } from "../../src/project.ts";
import { type DeliverOptions, type DeliveryTally, deliverAll } from "../../src/delivery/deliver.ts";
import { silentLogger } from "../../src/log.ts";
import { type RunOptions, type RunResult, runJob } from "../../src/runner/run-job.ts";
import { getRun, type RunRow } from "../../src/state/runs.repo.ts";
import { openStateStore, type StateStore } from "../../src/state/store.ts";
import { createTestDatabase, pgSkip, type TestDatabase } from "./pg.ts";

export type Backend = "sqlite" | "postgres";
export const BACKENDS: readonly Backend[] = ["sqlite", "postgres"];

/** The `skip` option for a suite on this backend: a message when its server is missing, else false. */
export async function backendSkip(backend: Backend): Promise<string | false> {
  return backend === "postgres" ? pgSkip() : false;
}

/** Every table of the state store, for before/after comparisons. */
export const STATE_TABLES = [
  "runs",
  "run_rejects",
  "checkpoints",
  "snapshots",
  "golden",
  "conflicts",
  "outbox",
  "destination_records",
  "audit_log",
  "files",
  "dead_letters",
  "leases",
  "users",
  "sessions",
  "api_tokens",
  "login_attempts",
  "schedule_pauses",
  "run_logs",
] as const;

export type LegacyValue = string | number | null;
export type LegacyRow = Record<string, LegacyValue>;

export interface LegacyTable {
  columns: readonly string[];
  rows?: readonly LegacyRow[];
  /** Omit for a legacy table without a key constraint (duplicates, NULL keys). */
  primaryKey?: string;
}

export interface TestProjectOptions {
  backend: Backend;
  /** Mapping files by name (`customer` -> mappings/customer.yaml): an object written as YAML, or YAML text. */
  mappings: Record<string, object | string>;
  /** Job files by job name (`erp` -> jobs/erp.yaml). */
  jobs: Record<string, object | string>;
  /** Tables of the legacy SQLite database, `legacy.db`, declared as connection `legacy`. */
  legacy?: Record<string, LegacyTable>;
  /** Other files by path relative to the project (CSV files). */
  files?: Record<string, string>;
  /** Settings of the `hubspot` destination over the test defaults (no rate limit, 3 attempts). */
  hubspot?: Record<string, unknown>;
  /** More destinations in ferry.yaml, beside `hubspot`. */
  destinations?: Record<string, Record<string, unknown>>;
  /** More environment for the project (references in ferry.yaml). */
  env?: Record<string, string>;
  emulator?: HubSpotEmulatorOptions;
  /** More top-level settings of ferry.yaml (`http`, `serve`...). */
  settings?: Record<string, unknown>;
}

export interface TestProject {
  readonly dir: string;
  readonly backend: Backend;
  /** Reloaded by `reload()` after files change. */
  project: Project;
  readonly store: StateStore;
  readonly emulator: HubSpotEmulator;
  run(job: string, options?: Partial<RunOptions>): Promise<RunResult>;
  /** Drains the outbox to every destination; the HubSpot tally. */
  deliver(options?: Partial<DeliverOptions>): Promise<DeliveryTally>;
  /** Drains the outbox to every destination; every tally. */
  deliverAll(options?: Partial<DeliverOptions>): Promise<Map<string, DeliveryTally>>;
  /** Runs one statement on the legacy database (opened read-write, then closed). */
  legacy(sql: string, ...params: LegacyValue[]): void;
  insertLegacy(table: string, rows: readonly LegacyRow[]): void;
  /** Writes (or replaces) a file of the project; call `reload()` for configuration files. */
  writeFile(relative: string, text: string | object): void;
  reload(): void;
  runRow(id: number | null): Promise<RunRow>;
  tableCounts(): Promise<Record<string, number>>;
  cleanup(): Promise<void>;
}

export const TEST_TOKEN = "test-token";

function yamlOf(content: object | string): string {
  return typeof content === "string" ? content : stringify(content);
}

function quoteName(name: string): string {
  return `"${name.replaceAll("\"", "\"\"")}"`;
}

function insertRows(db: Database.Database, table: string, rows: readonly LegacyRow[]) {
  if (rows.length === 0) return;
  db.transaction(() => {
    for (const row of rows) {
      const columns = Object.keys(row);
      db.prepare(
        `INSERT INTO ${quoteName(table)} (${columns.map(quoteName).join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
      ).run(...columns.map((c) => row[c] ?? null));
    }
  })();
}

export async function createTestProject(options: TestProjectOptions): Promise<TestProject> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "ferry-it-"));
  const legacyFile = path.join(dir, "legacy.db");
  let database: TestDatabase | undefined;
  let emulator: HubSpotEmulator | undefined;
  let store: StateStore | undefined;
  const cleanup = async () => {
    try {
      await store?.close().catch(() => {});
      await emulator?.close().catch(() => {});
      await database?.drop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    const write = (relative: string, text: string | object) => {
      const file = path.join(dir, relative);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, typeof text === "string" ? text : yamlOf(text));
    };

    const db = new Database(legacyFile);
    try {
      for (const [name, table] of Object.entries(options.legacy ?? {})) {
        const columns = table.columns.map(
          (c) => `${quoteName(c)} TEXT${c === table.primaryKey ? " PRIMARY KEY" : ""}`,
        );
        db.exec(`CREATE TABLE ${quoteName(name)} (${columns.join(", ")})`);
        insertRows(db, name, table.rows ?? []);
      }
    } finally {
      db.close();
    }

    emulator = await startHubSpotEmulator({
      token: TEST_TOKEN,
      uniqueProperties: { contacts: ["customer_no"] },
      ...options.emulator,
    });
    if (options.backend === "postgres") database = await createTestDatabase();

    write(
      "ferry.yaml",
      yamlOf({
        state: database ? { url: "${env:FERRY_STATE_URL}" } : { path: "state/state.db" },
        connections: { legacy: { dialect: "sqlite", path: "legacy.db" } },
        destinations: {
          hubspot: {
            type: "hubspot",
            base_url: "${env:HUBSPOT_BASE_URL}",
            token: "${env:HUBSPOT_TOKEN}",
            rate_limit: null,
            max_attempts: 3,
            timeout: "10s",
            ...options.hubspot,
          },
          ...options.destinations,
        },
        ...options.settings,
      }),
    );
    for (const [name, content] of Object.entries(options.mappings)) write(`mappings/${name}.yaml`, content);
    for (const [name, content] of Object.entries(options.jobs)) write(`jobs/${name}.yaml`, content);
    for (const [relative, text] of Object.entries(options.files ?? {})) write(relative, text);

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HUBSPOT_BASE_URL: emulator.url,
      HUBSPOT_TOKEN: TEST_TOKEN,
      ...(database ? { FERRY_STATE_URL: database.url } : {}),
      ...options.env,
    };
    const load = () => loadProject(path.join(dir, "ferry.yaml"), env);
    const project = load();
    store = await openStateStore(project.config.state, project.dir);
    const openedStore = store;
    const startedEmulator = emulator;

    const self: TestProject = {
      dir,
      backend: options.backend,
      project,
      store: openedStore,
      emulator: startedEmulator,
      run: (job, runOptions = {}) =>
        runJob(self.project, getJob(self.project, job), openedStore, { log: silentLogger, ...runOptions }),
      async deliver(deliverOptions = {}) {
        return (await self.deliverAll(deliverOptions)).get("hubspot")!;
      },
      async deliverAll(deliverOptions = {}) {
        const destinations = createDestinations(self.project, silentLogger);
        try {
          const options = { log: silentLogger, waitForRetriesMs: 15_000, ...deliverOptions };
          return await deliverAll(self.project, openedStore, destinations, options);
        } finally {
          for (const d of destinations.values()) await d.close();
        }
      },
      legacy(sql, ...params) {
        const legacy = new Database(legacyFile);
        try {
          legacy.prepare(sql).run(...params);
        } finally {
          legacy.close();
        }
      },
      insertLegacy(table, rows) {
        const legacy = new Database(legacyFile);
        try {
          insertRows(legacy, table, rows);
        } finally {
          legacy.close();
        }
      },
      writeFile: write,
      reload() {
        self.project = load();
      },
      async runRow(id) {
        if (id === null) throw new Error("a dry run has no run row");
        const row = await getRun(openedStore.knex, id);
        if (!row) throw new Error(`no run #${id} in the state store`);
        return row;
      },
      async tableCounts() {
        const out: Record<string, number> = {};
        for (const table of STATE_TABLES) {
          const row = (await openedStore.knex(table).count({ n: "*" }).first()) as { n: number | string };
          out[table] = Number(row.n);
        }
        return out;
      },
      cleanup,
    };
    return self;
  } catch (e) {
    await cleanup().catch(() => {});
    throw e;
  }
}

const ORDER: Record<(typeof STATE_TABLES)[number], string> = {
  runs: "id",
  run_rejects: "line",
  checkpoints: "job",
  snapshots: "key",
  golden: "key",
  conflicts: "id",
  outbox: "id",
  destination_records: "key",
  audit_log: "id",
  files: "id",
  dead_letters: "id",
  leases: "name",
  users: "id",
  sessions: "created_at",
  api_tokens: "id",
  login_attempts: "id",
  schedule_pauses: "job",
  run_logs: "id",
};

/** Rows of a state table matching `where`, in a stable order. */
export async function stateRows<T = Record<string, unknown>>(
  store: StateStore,
  table: (typeof STATE_TABLES)[number],
  where: Record<string, unknown> = {},
): Promise<T[]> {
  return (await store.knex(table).where(where).orderBy(ORDER[table])) as T[];
}

/** Asserts a run ended in one of these statuses, showing its error when it did not. */
export function assertStatus(
  result: RunResult,
  expected: RunResult["status"] | readonly RunResult["status"][] = "succeeded",
): void {
  const allowed = typeof expected === "string" ? [expected] : expected;
  if (!allowed.includes(result.status)) {
    const why = result.error ? `: ${result.error.message}` : "";
    throw new assert.AssertionError({
      message: `run of ${result.job} ended ${result.status}, expected ${allowed.join(" or ")}${why}`,
      actual: result.status,
      expected: allowed.join(" | "),
      operator: "assertStatus",
    });
  }
}
