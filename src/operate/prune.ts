/**
 * History retention: what `ferry prune` and `ferry serve` (once a day) delete, by ferry.yaml's `retention:`.
 * Runs older than `runs` go with their log lines and rejected rows (each job's last run, and any run still
 * running, stay); rejected rows older than `rejects`; outbox rows delivered or superseded longer ago than
 * `delivered`; dead letters resolved longer ago than `dead_letters`; audit entries older than `audit`;
 * expired sessions and day-old login attempts. Nothing the next run or delivery needs is touched:
 * pending and dead outbox rows, open dead letters and conflicts, golden records, snapshots, checkpoints
 * and the files already taken (they keep a file from being applied twice).
 */
import { durationMs } from "../config/duration.ts";
import type { Project } from "../config/load.ts";
import type { Db, StateStore } from "../state/store.ts";

export interface Pruned {
  runs: number;
  run_logs: number;
  run_rejects: number;
  outbox: number;
  dead_letters: number;
  audit_log: number;
  sessions: number;
  login_attempts: number;
}

const before = (now: Date, duration: string) => new Date(now.valueOf() - durationMs(duration)).toISOString();

/** Runs older than `cutoff`, but not a job's last run nor one still running. */
function oldRuns(db: Db, cutoff: string) {
  const last = db("runs").max("id").groupBy("job");
  return db("runs").select("id").where("started_at", "<", cutoff).where("id", ">", 0).whereNot({ status: "running" }).whereNotIn("id", last);
}

export async function prune(project: Project, store: StateStore, now = new Date(), options: { dryRun?: boolean } = {}): Promise<Pruned> {
  const r = project.config.retention;
  const at = now.toISOString();
  const run = async (db: Db): Promise<Pruned> => {
    const runsCutoff = before(now, r.runs);
    const rejectsCutoff = before(now, r.rejects);
    const oldRejectRuns = db("runs").select("id").where("started_at", "<", rejectsCutoff);
    const run_rejects = Number(await db("run_rejects").whereIn("run_id", oldRejectRuns).delete());
    const run_logs = Number(await db("run_logs").whereIn("run_id", oldRuns(db, runsCutoff)).delete());
    const orphanRejects = Number(await db("run_rejects").whereIn("run_id", oldRuns(db, runsCutoff)).delete());
    const runs = Number(await db("runs").whereIn("id", oldRuns(db, runsCutoff)).delete());
    const outbox = Number(await db("outbox").whereIn("status", ["delivered", "superseded"]).where("updated_at", "<", before(now, r.delivered)).delete());
    const dead_letters = Number(await db("dead_letters").whereNotNull("resolution").where("resolved_at", "<", before(now, r.dead_letters)).delete());
    const audit_log = Number(await db("audit_log").where("at", "<", before(now, r.audit)).delete());
    const sessions = Number(await db("sessions").where("expires_at", "<=", at).delete());
    const login_attempts = Number(await db("login_attempts").where("at", "<", before(now, "1d")).delete());
    return { runs, run_logs, run_rejects: run_rejects + orphanRejects, outbox, dead_letters, audit_log, sessions, login_attempts };
  };
  if (!options.dryRun) return store.knex.transaction(run);
  // A dry run deletes in a transaction it rolls back: the counts are exactly what a prune would delete.
  let counted: Pruned | undefined;
  await store.knex
    .transaction(async (tx) => {
      counted = await run(tx);
      throw new DryRun();
    })
    .catch((e: unknown) => {
      if (!(e instanceof DryRun)) throw e;
    });
  return counted!;
}

class DryRun extends Error {}

/** The state store's size on disk, in bytes: the SQLite file's pages, or the PostgreSQL tables with their indexes. */
export async function stateSize(store: StateStore): Promise<number> {
  if (store.dialect === "sqlite") {
    const [pages] = (await store.knex.raw("PRAGMA page_count")) as { page_count: number }[];
    const [size] = (await store.knex.raw("PRAGMA page_size")) as { page_size: number }[];
    return Number(pages!.page_count) * Number(size!.page_size);
  }
  const res = (await store.knex.raw(
    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = current_schema() AND c.relkind = 'r'",
  )) as { rows: { n: string }[] };
  return Number(res.rows[0]!.n);
}
