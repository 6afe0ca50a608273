/** The operator's tools: `ferry runs`, `ferry conflicts`, `ferry explain`. */
import type { Command } from "commander";
import { ExitCode } from "../errors.ts";
import { explain } from "../operate/explain.ts";
import { resolveConflict } from "../operate/resolve.ts";
import { listConflicts } from "../state/conflicts.repo.ts";
import { deadLetterCounts } from "../state/dead-letters.repo.ts";
import { listFiles } from "../state/files.repo.ts";
import { outboxCounts } from "../state/outbox.repo.ts";
import { listRejects } from "../state/run-rejects.repo.ts";
import { getRun, listRuns } from "../state/runs.repo.ts";
import { type GlobalOptions, openContext } from "./context.ts";
import { printJson, printTable } from "./output.ts";

const show = (v: unknown) => (v === null || v === undefined ? "(empty)" : JSON.stringify(v));

export function registerOperateCommands(program: Command, globals: () => GlobalOptions) {
  program
    .command("runs [id]")
    .description("recent runs with their accounting; with an id, one run and its rejected rows")
    .option("--job <name>", "only this job")
    .option("--limit <n>", "how many runs", "20")
    .action(async (id: string | undefined, opts: { job?: string; limit: string }) => {
      const g = globals();
      const ctx = await openContext(g);
      try {
        if (id) {
          const run = await getRun(ctx.store.knex, Number(id));
          if (!run) {
            process.stderr.write(`ferry: no run ${id}\n`);
            process.exitCode = ExitCode.config;
            return;
          }
          const rejects = await listRejects(ctx.store.knex, run.id);
          const file = (await ctx.store.knex("files").where({ run_id: run.id }).first("name", "outcome", "hash")) as
            | { name: string; outcome: string; hash: string }
            | undefined;
          if (g.json) printJson({ run, rejects, ...(file ? { file } : {}) });
          else {
            printTable([run as unknown as Record<string, unknown>]);
            if (file) process.stdout.write(`\nfile: ${file.name} (${file.outcome}, sha256 ${file.hash.slice(0, 12)}…)\n`);
            process.stdout.write("\nrejected rows:\n");
            printTable(rejects as unknown as Record<string, unknown>[]);
          }
          return;
        }
        const runs = await listRuns(ctx.store.knex, { job: opts.job, limit: Number(opts.limit) });
        const outbox = await outboxCounts(ctx.store.knex);
        const files = await listFiles(ctx.store.knex, opts.job, Number(opts.limit));
        const dlq = await deadLetterCounts(ctx.store.knex);
        if (g.json) printJson({ runs, outbox, dead_letters: dlq, files });
        else {
          printTable(runs as unknown as Record<string, unknown>[], [
            "id",
            "job",
            "mode",
            "status",
            "started_at",
            "read",
            "unchanged",
            "changed",
            "rejected",
            "filtered",
            "deleted",
            "conflicts",
            "outbox",
            "error",
          ]);
          process.stdout.write("\noutbox by destination:\n");
          printTable(outbox);
          if (dlq.length > 0) {
            process.stdout.write("\ndead-letter queue, open entries (`ferry dlq list`):\n");
            printTable(dlq);
          }
          if (files.length > 0) {
            process.stdout.write("\nfiles taken (folder and sftp jobs):\n");
            printTable(files as unknown as Record<string, unknown>[], ["processedAt", "job", "name", "outcome", "runId", "reason"]);
          }
        }
      } finally {
        await ctx.close();
      }
    });

  const conflicts = program
    .command("conflicts")
    .description("conflicts that survivorship rules could not settle");
  conflicts
    .command("list")
    .description("open conflicts (with --all, resolved and closed ones too)")
    .option("--all", "include resolved and closed conflicts")
    .option("--entity <entity>", "only this entity")
    .action(async (opts: { all?: boolean; entity?: string }) => {
      const g = globals();
      const ctx = await openContext(g);
      try {
        const rows = await listConflicts(ctx.store.knex, {
          status: opts.all ? undefined : "open",
          entity: opts.entity,
        });
        if (g.json) printJson(rows);
        else {
          printTable(
            rows.map((c) => ({
              id: c.id,
              status: c.status,
              entity: c.entity,
              key: c.key,
              field: c.field,
              current: `${show(c.current.value)} (${c.current.source})`,
              competing: c.candidates.map((x) => `${show(x.value)} (${x.source})`).join("; "),
              opened: c.opened_at,
            })),
          );
        }
      } finally {
        await ctx.close();
      }
    });
  conflicts
    .command("resolve <id>")
    .description(
      "settle a conflict with one source's value (--use) or a value of your own (--value); audited",
    )
    .option("--use <source>", "take this source's value")
    .option("--value <value>", "enter a value")
    .option("--by <name>", "who decides, for the audit log", process.env.USER ?? "operator")
    .action(async (id: string, opts: { use?: string; value?: string; by: string }) => {
      const g = globals();
      if ((opts.use === undefined) === (opts.value === undefined)) {
        process.stderr.write("ferry: give exactly one of --use <source> or --value <value>\n");
        process.exitCode = ExitCode.config;
        return;
      }
      const ctx = await openContext(g);
      try {
        const decision = opts.use !== undefined ? { use: opts.use } : { value: opts.value! };
        const r = await resolveConflict(ctx.project, ctx.store, Number(id), decision, opts.by);
        if (g.json) printJson(r);
        else
          process.stdout.write(
            `conflict #${r.id} resolved: ${r.entity} ${r.key} ${r.field} ${show(r.before)} -> ${show(r.after)} (${r.source}); ${r.outbox} outbox row(s) queued\n`,
          );
      } finally {
        await ctx.close();
      }
    });

  program
    .command("explain <entity> <key> [field]")
    .description("why a record holds what it holds: value, source, rule, run, and what was pushed where")
    .action(async (entity: string, key: string, field: string | undefined) => {
      const g = globals();
      const ctx = await openContext(g);
      try {
        const e = await explain(ctx.store, entity, key, field);
        if (!e) {
          process.stderr.write(`ferry: no ${entity} with key ${key}\n`);
          process.exitCode = ExitCode.config;
          return;
        }
        if (g.json) {
          printJson(e);
          return;
        }
        process.stdout.write(`${entity} ${key}: version ${e.version}, ${e.status}\n\nfields:\n`);
        printTable(
          Object.entries(e.fields).map(([name, f]) => ({
            field: name,
            value: show(f?.value),
            source: f?.source,
            rule: f?.rule,
            run: f?.run,
            observed: f?.at,
            conflict: f?.conflicted ? "open" : "",
          })),
        );
        process.stdout.write("\nwhat each source says:\n");
        printTable(
          e.sources.map((s) => ({ source: s.source, run: s.run, observed: s.observedAt, values: s.values })),
        );
        process.stdout.write("\npushed:\n");
        printTable(
          e.destinations.map((d) => ({
            destination: d.destination,
            id: d.remoteId,
            version: d.version,
            at: d.pushedAt,
            values: d.pushed,
          })),
        );
        if (e.conflicts.length > 0) {
          process.stdout.write("\nconflicts:\n");
          printTable(
            e.conflicts.map((c) => ({ id: c.id, field: c.field, status: c.status, competing: c.candidates })),
          );
        }
        const waiting = e.outbox.filter((o) => o.status !== "delivered" && o.status !== "superseded");
        if (waiting.length > 0) {
          process.stdout.write("\nnot delivered:\n");
          printTable(waiting);
        }
      } finally {
        await ctx.close();
      }
    });
}
