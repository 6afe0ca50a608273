/**
 * One run of one job: read the source batch by batch, commit each batch with its checkpoint, detect
 * deletes at the end of a snapshot, and account for every row read. A dry run takes the same path inside
 * a transaction that is rolled back, so `ferry plan` shows exactly what `ferry run` would do.
 */
import { hash } from "node:crypto";
import path from "node:path";
import { setImmediate } from "node:timers/promises";
import type { LoadedJob, Project } from "../config/load.ts";
import { compileMapping } from "../engine/map.ts";
import { mergeRules } from "../engine/merge.ts";
import { SeenKeys } from "../engine/seen-keys.ts";
import { converterFor } from "../engine/values.ts";
import { ConfigError, describeError, FatalError, FerryError, TransientError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { sources } from "../sources/registry.ts";
import type { Source } from "../sources/source.ts";
import { loadCheckpoint } from "../state/checkpoints.repo.ts";
import type { RejectRow } from "../state/run-rejects.repo.ts";
import { type Counts, finishRun, startRun, zeroCounts } from "../state/runs.repo.ts";
import { countSnapshots } from "../state/snapshots.repo.ts";
import { type Db, type StateStore, withoutSql } from "../state/store.ts";
import { processBatch } from "./batch.ts";
import type { PlannedEvent } from "./batch-context.ts";
import { type FileRunResult, runFiles } from "./run-files.ts";
import { applyDeletes, findMissing } from "./deletes.ts";
import { compileFilter } from "./filter.ts";

export interface RunOptions {
  dryRun?: boolean;
  allowMassDelete?: boolean;
  signal?: AbortSignal;
  now?: () => Date;
  log: Logger;
  onProgress?: (counts: Counts) => void;
  /** Dry runs: receives each planned create, update, delete, conflict and reject. */
  onPlanned?: (event: PlannedEvent) => void;
  /** Reads this source instead of the job's (one file of a file source). */
  source?: Source;
  /** Runs in the run's transaction just before it commits (a file source's ledger entry). */
  beforeCommit?: (db: Db, runId: number, counts: Counts) => Promise<void>;
}

export interface RunResult {
  runId: number | null;
  job: string;
  status: "succeeded" | "partial" | "failed" | "refused";
  counts: Counts;
  /** The first rejected rows, for the summary (all of them are in the state store). */
  rejects: RejectRow[];
  error?: FerryError | Error;
  /** File sources: one entry per file taken, each applied as a run of its own. */
  files?: FileRunResult[];
}

const MAX_REJECTS_KEPT = 100;

class DryRunRollback extends Error {}

function addInto(total: Counts, part: Counts) {
  for (const k of Object.keys(part) as (keyof Counts)[]) total[k] += part[k];
}

export async function runJob(
  project: Project,
  job: LoadedJob,
  store: StateStore,
  options: RunOptions,
): Promise<RunResult> {
  const now = options.now ?? (() => new Date());
  const signal = options.signal ?? new AbortController().signal;
  const cfg = job.config;
  const mapping = project.mappings.get(cfg.mapping)!.config;
  const compiled = compileMapping(mapping, cfg.as);
  const keyColumn = compiled.keyColumn;
  if (!keyColumn) {
    throw new ConfigError(
      "CONFIG_KEY_NOT_A_COLUMN",
      `the key "${mapping.key}" of source "${cfg.as}" must map from one column without transforms, so Ferry can page and match by it`,
      { file: project.mappings.get(cfg.mapping)!.file, path: `sources.${cfg.as}.${mapping.key}` },
    );
  }
  const destinations = Object.fromEntries(
    Object.entries(mapping.destinations).filter(
      ([name]) => !cfg.destinations || cfg.destinations.includes(name),
    ),
  );
  const timeColumn = cfg.source_time ?? cfg.cursor?.column ?? null;
  const toTime = converterFor("datetime");
  const sourceTime = (row: Record<string, unknown>): string | null => {
    if (!timeColumn) return null;
    try {
      return toTime(row[timeColumn]) as string | null;
    } catch {
      return null;
    }
  };
  const definition = sources[cfg.source.type]!;
  const log = options.log.child({ job: job.name, source: cfg.as });
  const startedAt = now().toISOString();
  const source: Source =
    options.source ??
    definition.create(cfg.source, {
      baseDir: project.dir,
      connections: project.config.connections,
      env: project.env,
      log,
      artifactsDir: path.join(project.dir, ".ferry", "runs", job.name, startedAt.replaceAll(":", "-")),
    });
  if (source.files) return runFiles(project, job, store, options, source);

  const totals = zeroCounts();
  const rejects: RejectRow[] = [];
  const dryRun = options.dryRun ?? false;
  const runId = dryRun ? 0 : await startRun(store.knex, job.name, cfg.mode, startedAt);
  const runLog = log.child({ run: runId });
  runLog.info({ mode: cfg.mode, dryRun, source: source.describe }, "run started");

  const ctxBase = {
    job: job.name,
    source: cfg.as,
    runId,
    observedAt: startedAt,
    compiled,
    signature: hash("sha1", JSON.stringify([compiled.signature, cfg.filter]), "base64"),
    rules: mergeRules(mapping),
    destinations,
    filter: compileFilter(cfg.filter),
    sourceTime,
    seen: cfg.mode === "snapshot" ? new SeenKeys() : null,
    multiSource: Object.keys(mapping.sources).length > 1,
    onPlanned: options.onPlanned,
  };

  const execute = async (runDb: Db | null) => {
    const inTx = async <T>(fn: (db: Db) => Promise<T>) => (runDb ? fn(runDb) : store.knex.transaction(fn));
    if (dryRun && runDb)
      await runDb("runs").insert({
        id: 0,
        job: job.name,
        mode: cfg.mode,
        status: "running",
        started_at: startedAt,
      });
    const checkpoint = cfg.mode === "cursor" ? await inTx((db) => loadCheckpoint(db, job.name)) : null;
    let checkedColumns = false;
    const held = { found: 0, added: 0 };
    for await (const batch of source.read({
      mode: cfg.mode,
      batchSize: cfg.batch_size,
      keyColumn,
      columns: compiled.columns,
      cursor: cfg.cursor
        ? { column: cfg.cursor.column, lookback: cfg.cursor.lookback ?? null, from: checkpoint }
        : undefined,
      signal,
    })) {
      if (!checkedColumns) {
        checkColumns(project, job, compiled.columns, timeColumn, batch.columns);
        checkedColumns = true;
      }
      const outcome = await inTx((db) => processBatch(db, ctxBase, batch, batch.position));
      addInto(totals, outcome.counts);
      held.found += outcome.found;
      held.added += outcome.added;
      for (const r of outcome.rejects) if (rejects.length < MAX_REJECTS_KEPT) rejects.push(r);
      options.onProgress?.({ ...totals });
      // better-sqlite3 answers synchronously: without a turn of the event loop between batches, a SIGTERM
      // (or a timer, or a cron tick) waits for the end of the run, and "no new batch starts" cannot hold.
      await setImmediate();
    }
    if (ctxBase.seen) {
      const seen = ctxBase.seen;
      await inTx(async (db) => {
        // The snapshot holds what it held before (read again, or missing) and what this run added: when
        // the count adds up, nothing is missing and the stored keys need no walk.
        const count = await countSnapshots(db, compiled.entity, cfg.as);
        const missing = count === held.found + held.added ? [] : await findMissing(db, compiled.entity, cfg.as, seen);
        if (missing.length > 0) {
          const done = await applyDeletes(
            db,
            {
              entity: compiled.entity,
              source: cfg.as,
              runId,
              at: startedAt,
              policy: cfg.deletes.policy,
              maxShare: cfg.deletes.max_share,
              allowMassDelete: options.allowMassDelete ?? false,
              destinations,
              onPlanned: options.onPlanned,
            },
            missing,
            count,
          );
          totals.deleted += done.deleted;
          totals.conflicts += done.conflicts;
          totals.outbox += done.outbox;
        }
      });
    }
    const accounted = totals.unchanged + totals.changed + totals.rejected + totals.filtered;
    if (totals.read !== accounted) {
      throw new FatalError(
        "RUN_ACCOUNTING_MISMATCH",
        `read ${totals.read} rows but accounted for ${accounted} (unchanged ${totals.unchanged} + changed ${totals.changed} + rejected ${totals.rejected} + filtered ${totals.filtered}). This is a bug in Ferry: please report it with this run's log`,
      );
    }
    if (runDb && options.beforeCommit) await options.beforeCommit(runDb, runId, totals);
  };

  let status: RunResult["status"] = "succeeded";
  let error: FerryError | Error | undefined;
  try {
    if (dryRun || source.commitUnit === "run") {
      const trx = await store.knex.transaction();
      try {
        await execute(trx);
        if (dryRun) throw new DryRunRollback();
        await trx.commit();
      } catch (e) {
        await trx.rollback().catch(() => {});
        if (!(e instanceof DryRunRollback)) throw e;
      }
    } else {
      await execute(null);
    }
    if (totals.rejected > 0) status = "partial";
  } catch (e) {
    // A driver's error (state store or source) carries the failing SQL and its values: keep only its words.
    error = signal.aborted
      ? new TransientError(
          "RUN_INTERRUPTED",
          `the run was interrupted (${describeError(signal.reason)}); every committed batch stands and the next run resumes from there`,
          { cause: e },
        )
      : e instanceof FerryError
        ? e
        : new FatalError(
            "RUN_FAILED",
            `the run stopped: ${withoutSql(e)}; nothing past the last committed batch was applied`,
            {
              cause: e,
            },
          );
    status = e instanceof FatalError && e.code === "MASS_DELETE_REFUSED" ? "refused" : "failed";
    runLog.error({ err: describeError(error) }, "run failed");
  } finally {
    await source.close();
  }
  if (!dryRun) {
    const finishedAt = now().toISOString();
    await finishRun(store.knex, runId, status, finishedAt, error ? describeError(error) : null);
  }
  runLog.info({ status, ...totals }, "run finished");
  return {
    runId: dryRun ? null : runId,
    job: job.name,
    status,
    counts: totals,
    rejects,
    ...(error ? { error } : {}),
  };
}

function checkColumns(
  project: Project,
  job: LoadedJob,
  needed: string[],
  timeColumn: string | null,
  available: string[],
) {
  const have = new Set(available);
  const mappingFile = project.mappings.get(job.config.mapping)!.file;
  for (const column of needed) {
    if (!have.has(column)) {
      throw new ConfigError(
        "CONFIG_MISSING_COLUMN",
        `source "${job.config.as}" has no column "${column}" (it has: ${available.join(", ")}). Fix the mapping or the ${job.config.source.type === "sql" ? "query" : "file"}; nothing was written`,
        { file: mappingFile, path: `sources.${job.config.as}` },
      );
    }
  }
  if (timeColumn && !have.has(timeColumn)) {
    throw new ConfigError(
      "CONFIG_MISSING_COLUMN",
      `the source has no column "${timeColumn}" for the cursor or source_time`,
      {
        file: job.file,
        path: job.config.cursor ? "cursor.column" : "source_time",
      },
    );
  }
}
