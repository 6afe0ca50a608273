/**
 * `ferry check <job>`: connects to the job's source, reads a few rows without writing anything anywhere,
 * and shows what the mapping would make of them: the columns and their types, each field's value, the rows
 * the mapping would reject, and warnings such as a database login that could write.
 */
import type { Command } from "commander";
import { findProjectFile, getJob, loadProject } from "../project.ts";
import { compileMapping } from "../engine/map.ts";
import { ConfigError, ExitCode } from "../errors.ts";
import { createLogger } from "../log.ts";
import { openSource } from "../runner/run-job.ts";
import type { SourceCheck } from "../sources/source.ts";
import type { GlobalOptions } from "./context.ts";
import { printJson, printTable } from "./output.ts";

/** A canonical value's kind, as shown to the user. */
export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  if (typeof value === "boolean") return "boolean";
  if (typeof value !== "string") return typeof value;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value)) return "date-time (UTC)";
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return "date";
  if (/^-?\d+$/.test(value)) return "integer (text)";
  if (/^-?\d+\.\d+$/.test(value)) return "decimal (text)";
  return "text";
}

async function sample(job: ReturnType<typeof getJob>, project: ReturnType<typeof loadProject>, limit: number, keyColumn: string) {
  const log = createLogger({ level: process.env.FERRY_LOG_LEVEL ?? "warn" });
  const controller = new AbortController();
  const source = openSource(project, job, log, { signal: controller.signal, dryRun: true });
  try {
    if (source.check) return await source.check({ limit, signal: controller.signal });
    // Sources without a check of their own: the first batch of a read, then stop.
    for await (const batch of source.read({ mode: "snapshot", batchSize: limit, keyColumn, signal: controller.signal })) {
      const result: SourceCheck = {
        columns: batch.columns,
        rows: batch.rows.map((r) => r.values),
        notes: [],
        warnings: batch.rejects.map((r) => `line ${r.line}: ${r.error.message}`),
      };
      controller.abort();
      return result;
    }
    return { columns: [], rows: [], notes: [], warnings: [] };
  } finally {
    await source.close();
  }
}

export function registerCheckCommand(program: Command, globals: () => GlobalOptions) {
  program
    .command("check <job>")
    .description("connect to a job's source, read a few rows, show the columns and what the mapping makes of them; writes nothing")
    .option("--limit <n>", "rows to read", "5")
    .action(async (name: string, opts: { limit: string }) => {
      const g = globals();
      const project = loadProject(findProjectFile(g.config));
      const job = getJob(project, name);
      const mapping = project.mappings.get(job.config.mapping)!.config;
      const compiled = compileMapping(mapping, job.config.as);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw new ConfigError("CLI_BAD_OPTION", `--limit ${opts.limit}: give a whole number of rows from 1 to 1000`);
      }
      const result = await sample(job, project, limit, compiled.keyColumn ?? compiled.columns[0]!);
      const warnings = [...result.warnings];
      const missing = compiled.columns.filter((c) => result.rows.length > 0 && !result.columns.includes(c));
      if (missing.length > 0) {
        warnings.push(`the mapping reads ${missing.join(", ")}, which the source does not return: the source has ${result.columns.join(", ")}`);
      }
      const cursor = job.config.cursor?.column;
      if (cursor && result.rows.length > 0 && !result.columns.includes(cursor)) {
        warnings.push(`the cursor column ${cursor} is not among the source's columns`);
      }
      const columns = result.columns.map((column) => ({
        column,
        type: [...new Set(result.rows.map((r) => kindOf(r[column])).filter((k) => k !== "null"))].join(", ") || "null",
        fields: Object.entries(mapping.sources[job.config.as] ?? {})
          .filter(([, spec]) => (typeof spec === "string" ? spec === column : [spec.from].flat().includes(column)))
          .map(([field]) => field)
          .join(", "),
        sample: result.rows[0]?.[column] ?? null,
      }));
      const mapped = result.rows.map((row) => compiled.map(row));
      const rejected = mapped.flatMap((m, i) => (m.ok ? [] : [`row ${i + 1}: ${m.error.message}`]));
      if (g.json) {
        const records = mapped.flatMap((m) => (m.ok ? [{ key: m.key, values: m.values }] : []));
        printJson({ job: name, source: job.config.source.type, columns, notes: result.notes, warnings, rejected, records });
      } else {
        process.stdout.write(`${name}: ${result.rows.length} row(s) read from the ${job.config.source.type} source, nothing written\n\n`);
        printTable(columns as unknown as Record<string, unknown>[], ["column", "type", "fields", "sample"]);
        for (const n of result.notes) process.stdout.write(`note: ${n}\n`);
        for (const r of rejected) process.stdout.write(`rejected: ${r}\n`);
        for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
      }
      process.exitCode = warnings.length > 0 || rejected.length > 0 ? ExitCode.partial : ExitCode.ok;
    });
}
