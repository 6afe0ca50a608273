/**
 * One run of a job over a table source: read the source batch by batch, commit each batch with its
 * checkpoint, detect deletes at the end of a snapshot, and account for every row read. A dry run takes the
 * same path inside a transaction that is rolled back, so `ferry plan` shows exactly what `ferry run` would do.
 */
import { hash } from "node:crypto";
import { setImmediate } from "node:timers/promises";
import type { LoadedJob, Project } from "../config/load.ts";
import type { DestinationMapping, MappingConfig } from "../config/mapping.schema.ts";
import { type CompiledMapping, compileMapping } from "../engine/map.ts";
import { mergeRules } from "../engine/merge.ts";
import { SeenKeys } from "../engine/seen-keys.ts";
import { converterFor } from "../engine/values.ts";
import { ConfigError, describeError, FatalError, FerryError, TransientError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { CursorPosition, Source } from "../sources/source.ts";
import { loadCheckpoint } from "../state/checkpoints.repo.ts";
import type { RejectRow } from "../state/run-rejects.repo.ts";
import { type Counts, finishRun, startDryRun, startRun, zeroCounts } from "../state/runs.repo.ts";
import { countSnapshots } from "../state/snapshots.repo.ts";
import { type Db, type StateStore, withoutSql } from "../state/store.ts";
import { processBatch } from "./batch.ts";
import type { BatchContext } from "./batch-context.ts";
import { applyDeletes, findMissing } from "./deletes.ts";
import { compileFilter } from "./filter.ts";
import type { RunOptions, RunResult } from "./run-types.ts";

/** What a run works with, settled from the job and its mapping before its source is opened. */
export interface RunContext {
  project: Project;
  job: LoadedJob;
  mapping: MappingConfig;
  compiled: CompiledMapping;
  /** The column holding the key, which the source pages and matches by. */
  keyColumn: string;
  /** The mapping's destinations this job feeds. */
  destinations: Record<string, DestinationMapping>;
  /** The column of the record's source time (the `latest` rule), if the job names one. */
  timeColumn: string | null;
  sourceTime: (row: Record<string, unknown>) => string | null;
  log: Logger;
  now: () => Date;
  signal: AbortSignal;
  startedAt: string;
}

/** A table run under way: its context, its options, its source and what it has counted so far. */
interface TableRun {
  run: RunContext;
  store: StateStore;
  options: RunOptions;
  source: Source;
  runId: number;
  dryRun: boolean;
  log: Logger;
  batch: BatchContext;
  totals: Counts;
  /** The first rejected rows, for the summary. */
  rejects: RejectRow[];
  /** Of the keys read: those the snapshot held before (found) and those it did not (added). */
  found: number;
  added: number;
}

type InTransaction = <T>(fn: (db: Db) => Promise<T>) => Promise<T>;

const MAX_REJECTS_KEPT = 100;

class DryRunRollback extends Error {}

function addInto(total: Counts, part: Counts) {
  for (const k of Object.keys(part) as (keyof Counts)[]) total[k] += part[k];
}

/** Compiles the job's mapping and settles what the run needs of it; throws a ConfigError for a key it cannot page by. */
export function prepareRun(project: Project, job: LoadedJob, options: RunOptions): RunContext {
  const now = options.now ?? (() => new Date());
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
  const log = options.log.child({ job: job.name, source: cfg.as });
  const startedAt = now().toISOString();
  const signal = options.signal ?? new AbortController().signal;
  return { project, job, mapping, compiled, keyColumn, destinations, timeColumn, sourceTime, log, now, signal, startedAt };
}

function batchContext(run: RunContext, runId: number, options: RunOptions): BatchContext {
  const cfg = run.job.config;
  return {
    job: run.job.name,
    source: cfg.as,
    runId,
    observedAt: run.startedAt,
    compiled: run.compiled,
    signature: hash("sha1", JSON.stringify([run.compiled.signature, cfg.filter]), "base64"),
    rules: mergeRules(run.mapping),
    destinations: run.destinations,
    filter: compileFilter(cfg.filter),
    sourceTime: run.sourceTime,
    seen: cfg.mode === "snapshot" ? new SeenKeys() : null,
    multiSource: Object.keys(run.mapping.sources).length > 1,
    onPlanned: options.onPlanned,
  };
}

/** Starts the run: its row in the state store (none for a dry run) and its log. */
async function start(run: RunContext, store: StateStore, options: RunOptions, source: Source): Promise<TableRun> {
  const cfg = run.job.config;
  const dryRun = options.dryRun ?? false;
  const runId = dryRun ? 0 : await startRun(store.knex, run.job.name, cfg.mode, run.startedAt);
  const log = run.log.child({ run: runId });
  log.debug({ mode: cfg.mode, dryRun, source: source.describe }, "run started");
  const batch = batchContext(run, runId, options);
  return { run, store, options, source, runId, dryRun, log, batch, totals: zeroCounts(), rejects: [], found: 0, added: 0 };
}

/** Reads the source to its end, each batch processed and committed in its transaction. */
async function readBatches(r: TableRun, inTx: InTransaction, checkpoint: CursorPosition | null) {
  const { run } = r;
  const cfg = run.job.config;
  let checkedColumns = false;
  for await (const batch of r.source.read({
    mode: cfg.mode,
    batchSize: cfg.batch_size,
    keyColumn: run.keyColumn,
    columns: run.compiled.columns,
    cursor: cfg.cursor
      ? { column: cfg.cursor.column, lookback: cfg.cursor.lookback ?? null, from: checkpoint }
      : undefined,
    signal: run.signal,
  })) {
    if (!checkedColumns) {
      checkColumns(run.project, run.job, run.compiled.columns, run.timeColumn, batch.columns);
      checkedColumns = true;
    }
    const outcome = await inTx((db) => processBatch(db, r.batch, batch, batch.position));
    addInto(r.totals, outcome.counts);
    r.found += outcome.found;
    r.added += outcome.added;
    for (const x of outcome.rejects) if (r.rejects.length < MAX_REJECTS_KEPT) r.rejects.push(x);
    r.options.onProgress?.({ ...r.totals });
    // better-sqlite3 answers synchronously: without a turn of the event loop between batches, a SIGTERM
    // (or a timer, or a cron tick) waits for the end of the run, and "no new batch starts" cannot hold.
    await setImmediate();
  }
}

/** The end of a snapshot: the keys the source's snapshot holds that this run did not read are deleted. */
async function detectDeletes(db: Db, r: TableRun, seen: SeenKeys) {
  const { entity } = r.run.compiled;
  const cfg = r.run.job.config;
  // The snapshot holds what it held before (read again, or missing) and what this run added: when the
  // count adds up, nothing is missing and the stored keys need no walk.
  const count = await countSnapshots(db, entity, cfg.as);
  const missing = count === r.found + r.added ? [] : await findMissing(db, entity, cfg.as, seen);
  if (missing.length === 0) return;
  const done = await applyDeletes(
    db,
    {
      entity,
      source: cfg.as,
      runId: r.runId,
      at: r.run.startedAt,
      policy: cfg.deletes.policy,
      maxShare: cfg.deletes.max_share,
      allowMassDelete: r.options.allowMassDelete ?? false,
      destinations: r.run.destinations,
      rules: mergeRules(r.run.mapping),
      onPlanned: r.options.onPlanned,
    },
    missing,
    count,
  );
  r.totals.deleted += done.deleted;
  r.totals.conflicts += done.conflicts;
  r.totals.outbox += done.outbox;
}

/** Every row read is unchanged, changed, rejected or filtered; anything else is a bug, and stops the run. */
function checkAccounting(totals: Counts) {
  const accounted = totals.unchanged + totals.changed + totals.rejected + totals.filtered;
  if (totals.read !== accounted) {
    throw new FatalError(
      "RUN_ACCOUNTING_MISMATCH",
      `read ${totals.read} rows but accounted for ${accounted} (unchanged ${totals.unchanged} + changed ${totals.changed} + rejected ${totals.rejected} + filtered ${totals.filtered}). This is a bug in Ferry: please report it with this run's log`,
    );
  }
}

/** The run's work, in one transaction (`runDb`) or, when it is null, one transaction per batch. */
async function execute(r: TableRun, runDb: Db | null) {
  const { job } = r.run;
  const inTx: InTransaction = (fn) => (runDb ? fn(runDb) : r.store.knex.transaction(fn));
  if (r.dryRun && runDb) await startDryRun(runDb, job.name, job.config.mode, r.run.startedAt);
  const checkpoint = job.config.mode === "cursor" ? await inTx((db) => loadCheckpoint(db, job.name)) : null;
  await readBatches(r, inTx, checkpoint);
  const seen = r.batch.seen;
  if (seen) await inTx((db) => detectDeletes(db, r, seen));
  checkAccounting(r.totals);
  if (runDb && r.options.beforeCommit) await r.options.beforeCommit(runDb, r.runId, r.totals);
}

/** Runs the work in the run's one transaction (a dry run, rolled back; a source that commits per run) or per batch. */
async function inTransactions(r: TableRun) {
  if (!r.dryRun && r.source.commitUnit !== "run") return execute(r, null);
  const trx = await r.store.knex.transaction();
  try {
    await execute(r, trx);
    if (r.dryRun) throw new DryRunRollback();
    await trx.commit();
  } catch (e) {
    await trx.rollback().catch(() => {});
    if (!(e instanceof DryRunRollback)) throw e;
  }
}

/** What a run that threw ends as, and the error it reports. */
function failure(e: unknown, signal: AbortSignal): { status: RunResult["status"]; error: FerryError | Error } {
  const status = e instanceof FatalError && e.code === "MASS_DELETE_REFUSED" ? "refused" : "failed";
  if (signal.aborted) {
    const reason = describeError(signal.reason);
    const message = `the run was interrupted (${reason}); every committed batch stands and the next run resumes from there`;
    return { status, error: new TransientError("RUN_INTERRUPTED", message, { cause: e }) };
  }
  if (e instanceof FerryError) return { status, error: e };
  // A driver's error (state store or source) carries the failing SQL and its values: keep only its words.
  const message = `the run stopped: ${withoutSql(e)}; nothing past the last committed batch was applied`;
  return { status, error: new FatalError("RUN_FAILED", message, { cause: e }) };
}

/** Records how the run ended and returns its result. */
async function finish(r: TableRun, status: RunResult["status"], error: FerryError | Error | undefined): Promise<RunResult> {
  if (!r.dryRun) {
    const finishedAt = r.run.now().toISOString();
    await finishRun(r.store.knex, r.runId, status, finishedAt, error ? describeError(error) : null);
  }
  const durationMs = r.run.now().valueOf() - Date.parse(r.run.startedAt);
  r.log.info({ status, ...r.totals, duration_ms: durationMs }, "run finished");
  return {
    runId: r.dryRun ? null : r.runId,
    job: r.run.job.name,
    status,
    counts: r.totals,
    rejects: r.rejects,
    ...(error ? { error } : {}),
  };
}

/** Runs the job over `source`, a table source (or one file of a file source); closes the source. */
export async function runTable(
  run: RunContext,
  store: StateStore,
  options: RunOptions,
  source: Source,
): Promise<RunResult> {
  const r = await start(run, store, options, source);
  let status: RunResult["status"] = "succeeded";
  let error: FerryError | Error | undefined;
  try {
    await inTransactions(r);
    if (r.totals.rejected > 0) status = "partial";
  } catch (e) {
    ({ status, error } = failure(e, run.signal));
    r.log.error({ err: describeError(error) }, "run failed");
  } finally {
    await source.close();
  }
  return finish(r, status, error);
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
