/**
 * Drives the real Ferry in-process, the way the CLI does: one project folder with three SQLite source
 * databases (connections `a`, `b`, `c`, one table `T` each), the `thing` mapping of ./model.ts, one snapshot
 * job per source, a `file` destination that is never delivered to (only the outbox is observed), and the
 * state store on SQLite. Steps edit the source tables, run a job (`runJob`) or resolve a conflict
 * (`resolveConflict`); `observe()` reads what Ferry decided back from the state store's tables.
 *
 * One harness serves every history of a test file: `reset()` empties the source tables and starts a new
 * state file, which costs a few milliseconds where building a project costs far more.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { stringify } from "yaml";
import { silentLogger } from "../../src/log.ts";
import { resolveConflict } from "../../src/operate/resolve.ts";
import { getJob, loadProject, type Project } from "../../src/project.ts";
import { runJob } from "../../src/runner/run-job.ts";
import { decodeFields } from "../../src/state/golden.repo.ts";
import { openStateStore, type StateStore } from "../../src/state/store.ts";
import {
  COLUMN,
  type Decision,
  FIELDS,
  FLAG_FIELD,
  MAPS,
  OWNER,
  PRIORITY,
  SOURCES,
  type Step,
  type Value,
} from "./model.ts";

const ENTITY = "thing";
const DESTINATION = "out";
const TABLE = "T";
const COLUMNS = ["ID", ...FIELDS.map((f) => COLUMN[f]), "TS"] as const;

/** What Ferry holds for a key, read from the state store. */
export interface ObservedRecord {
  status: string;
  fields: Record<string, Value>;
}

export interface ObservedConflict {
  id: number;
  key: string;
  field: string;
  /** Each competing source's value: the candidates and the conflict's current value and source. */
  candidates: Map<string, Value>;
}

export interface ObservedOutboxRow {
  id: number;
  key: string;
  version: number;
  op: string;
  properties: Record<string, Value>;
}

export interface Observed {
  golden: Map<string, ObservedRecord>;
  open: ObservedConflict[];
  outbox: ObservedOutboxRow[];
}

function mapping() {
  const rule: Record<string, unknown> = {
    f_owner: { owner: OWNER },
    f_prio: { priority: PRIORITY },
    f_latest: "latest",
    f_flag: "flag",
  };
  return {
    entity: ENTITY,
    key: "key",
    fields: {
      key: { type: "string" },
      ...Object.fromEntries(FIELDS.map((f) => [f, { type: "string", rule: rule[f] }])),
    },
    sources: Object.fromEntries(
      SOURCES.map((s) => [s, { key: "ID", ...Object.fromEntries(MAPS[s].map((f) => [f, COLUMN[f]])) }]),
    ),
    destinations: {
      [DESTINATION]: {
        object: "things",
        match: { property: "key" },
        fields: { key: "key", ...Object.fromEntries(FIELDS.map((f) => [f, f])) },
      },
    },
  };
}

function job(source: string) {
  return {
    source: { type: "sql", connection: source, query: `SELECT ${COLUMNS.join(", ")} FROM ${TABLE}` },
    mapping: ENTITY,
    as: source,
    mode: "snapshot",
    source_time: "TS",
    deletes: { policy: "propagate", max_share: 1 },
  };
}

export class Harness {
  readonly dir: string;
  readonly project: Project;
  private store: StateStore | undefined;
  private readonly tables: Map<string, Database.Database>;

  private constructor(dir: string, project: Project, tables: Map<string, Database.Database>) {
    this.dir = dir;
    this.project = project;
    this.tables = tables;
  }

  static async create(): Promise<Harness> {
    const dir = mkdtempSync(path.join(os.tmpdir(), "ferry-model-"));
    const write = (relative: string, content: object) => {
      const file = path.join(dir, relative);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, stringify(content));
    };
    write("ferry.yaml", {
      state: { path: ".ferry/state.db" },
      connections: Object.fromEntries(SOURCES.map((s) => [s, { dialect: "sqlite", path: `${s}.db` }])),
      destinations: { [DESTINATION]: { type: "file", target: { folder: "out" } } },
    });
    write(`mappings/${ENTITY}.yaml`, mapping());
    for (const s of SOURCES) write(`jobs/${s}.yaml`, job(s));
    const tables = new Map<string, Database.Database>();
    for (const s of SOURCES) {
      const db = new Database(path.join(dir, `${s}.db`));
      // The test's own edits need no durability: without a sync per statement a history runs several times faster.
      db.pragma("synchronous = OFF");
      db.exec(`CREATE TABLE ${TABLE} (ID TEXT PRIMARY KEY, ${COLUMNS.slice(1).map((c) => `${c} TEXT`).join(", ")})`);
      tables.set(s, db);
    }
    const harness = new Harness(dir, loadProject(path.join(dir, "ferry.yaml"), {}), tables);
    await harness.reset();
    return harness;
  }

  /** Empty source tables and an empty state store, its ids starting again from 1. */
  async reset(): Promise<void> {
    for (const db of this.tables.values()) db.exec(`DELETE FROM ${TABLE}`);
    this.store ??= await openStateStore(this.project.config.state, this.project.dir);
    // Emptying the tables takes a millisecond; a new state file and its migrations take tens. The tables are
    // listed from the file, not from the migrations this tree knows, so a newer schema is emptied too.
    const knex = this.store.knex;
    const tables = (await knex("sqlite_master")
      .where({ type: "table" })
      .whereNot("name", "like", "knex_migrations%")
      .whereNot("name", "like", "sqlite_%")
      .pluck("name")) as string[];
    await knex.raw("PRAGMA foreign_keys = OFF");
    try {
      await knex.transaction(async (tx) => {
        for (const table of tables) await tx(table).delete();
        await tx.raw("DELETE FROM sqlite_sequence");
      });
    } finally {
      await knex.raw("PRAGMA foreign_keys = ON");
    }
  }

  get state(): StateStore {
    if (!this.store) throw new Error("the harness is closed");
    return this.store;
  }

  /**
   * Applies a step to the real thing at `now`. `expected` is what the model says the step does; the
   * answer is null when the real thing did the same, else what it did instead.
   */
  async apply(step: Step, expected: "done" | "refused" | "nothing", now: Date): Promise<string | null> {
    const db = step.kind === "run" || step.kind === "resolve" || step.kind === "resolveClosed"
      ? undefined
      : this.tables.get(step.source)!;
    switch (step.kind) {
      case "put":
        db!.prepare(`INSERT OR REPLACE INTO ${TABLE} (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")})`)
          .run(step.key, ...FIELDS.map((f) => step.cells[f]), step.ts);
        return null;
      case "set":
        db!.prepare(`UPDATE ${TABLE} SET ${COLUMN[step.field]} = ? WHERE ID = ?`).run(step.cell, step.key);
        return null;
      case "touch":
        db!.prepare(`UPDATE ${TABLE} SET TS = ? WHERE ID = ?`).run(step.ts, step.key);
        return null;
      case "delete":
        db!.prepare(`DELETE FROM ${TABLE} WHERE ID = ?`).run(step.key);
        return null;
      case "run":
        return this.run(step.source, now);
      case "resolve":
        return this.resolve(step.key, step.decision, expected, now);
      case "resolveClosed":
        return this.resolveClosed(step.key, step.decision, now);
    }
  }

  private async run(source: string, now: Date): Promise<string | null> {
    const result = await runJob(this.project, getJob(this.project, source), this.state, { log: silentLogger, now: () => now });
    if (result.status === "succeeded") return null;
    return `the run of ${source} ended ${result.status}${result.error ? `: ${result.error.message}` : ""}`;
  }

  private async resolve(key: string, decision: Decision, expected: string, now: Date): Promise<string | null> {
    const conflict = (await this.state.knex("conflicts")
      .where({ entity: ENTITY, key, field: FLAG_FIELD, status: "open" })
      .orderBy("id", "desc")
      .first()) as { id: number } | undefined;
    if (!conflict) return expected === "nothing" ? null : `there is no open conflict on ${key}.${FLAG_FIELD} to resolve`;
    if (expected === "nothing") return `conflict #${conflict.id} on ${key}.${FLAG_FIELD} is open, the model has none`;
    return this.tryResolve(Number(conflict.id), decision, expected === "refused", now);
  }

  /** Resolves the key's newest conflict that is not open; when there is none, there is nothing to try. */
  private async resolveClosed(key: string, decision: Decision, now: Date): Promise<string | null> {
    const conflict = (await this.state.knex("conflicts")
      .where({ entity: ENTITY, key })
      .whereNot({ status: "open" })
      .orderBy("id", "desc")
      .first()) as { id: number } | undefined;
    if (!conflict) return null;
    return this.tryResolve(Number(conflict.id), decision, true, now);
  }

  private async tryResolve(id: number, decision: Decision, refused: boolean, now: Date): Promise<string | null> {
    try {
      await resolveConflict(this.project, this.state, id, decision, "model", now);
    } catch (e) {
      if (refused) return null;
      return `resolving conflict #${id} was refused: ${(e as Error).message}`;
    }
    return refused ? `resolving conflict #${id} was accepted; it must be refused` : null;
  }

  async observe(): Promise<Observed> {
    const knex = this.state.knex;
    const golden = new Map<string, ObservedRecord>();
    const rows = (await knex("golden").where({ entity: ENTITY })) as { key: string; status: string; fields: string }[];
    for (const r of rows) {
      // An empty field is absent from a golden record: seen here as null, as the model has it.
      const fields: Record<string, Value> = Object.fromEntries(FIELDS.map((f) => [f, null]));
      for (const [name, f] of Object.entries(decodeFields(r.fields))) fields[name] = f.value as Value;
      golden.set(r.key, { status: r.status, fields });
    }
    const conflicts = (await knex("conflicts").where({ entity: ENTITY, status: "open" }).orderBy("id")) as {
      id: number;
      key: string;
      field: string;
      current: string;
      candidates: string;
    }[];
    const open = conflicts.map((c) => ({
      id: Number(c.id),
      key: c.key,
      field: c.field,
      candidates: competing(JSON.parse(c.current), JSON.parse(c.candidates)),
    }));
    const outbox = ((await knex("outbox").where({ entity: ENTITY, destination: DESTINATION }).orderBy("id")) as {
      id: number;
      key: string;
      version: number;
      op: string;
      properties: string;
    }[]).map((r) => ({ id: Number(r.id), key: r.key, version: Number(r.version), op: r.op, properties: JSON.parse(r.properties) }));
    return { golden, open, outbox };
  }

  async close(): Promise<void> {
    await this.store?.close();
    this.store = undefined;
    for (const db of this.tables.values()) db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The competing values a conflict lists: its candidates, and its current value with its source unless that
 * source is already a candidate (the README names "the current value and its source, and the competing
 * values and theirs"; an empty current value, or one entered by an operator, is no holder's).
 */
function competing(
  current: { value: Value; source: string } | null,
  candidates: { source: string; value: Value }[],
): Map<string, Value> {
  const out = new Map<string, Value>();
  for (const c of candidates) out.set(c.source, c.value);
  const holder = current && current.value !== null && (SOURCES as readonly string[]).includes(current.source);
  if (holder && !out.has(current.source)) out.set(current.source, current.value);
  return out;
}
