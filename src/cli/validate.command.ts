/** `ferry validate`: every configuration file checked, every problem listed with its file and line. */
import path from "node:path";
import type { Command } from "commander";
import { writeJsonSchemas } from "../config/json-schema.ts";
import { configSchemas, findProjectFile, validateProject } from "../project.ts";
import { ExitCode } from "../errors.ts";
import type { GlobalOptions } from "./context.ts";
import { printJson } from "./output.ts";

export function registerValidateCommand(program: Command, globals: () => GlobalOptions) {
  program
    .command("validate")
    .description("check ferry.yaml, every job and every mapping; exit 2 if any is invalid")
    .option("--schemas <dir>", "also write JSON Schemas of the three file kinds there, for editors")
    .action(async (opts: { schemas?: string }) => {
      const g = globals();
      const file = findProjectFile(g.config);
      const v = validateProject(file);
      if (opts.schemas) await writeJsonSchemas(path.resolve(opts.schemas), configSchemas());
      if (g.json) {
        printJson({ ok: v.errors.length === 0, files: v.files, errors: v.errors.map((e) => e.toJSON()) });
      } else if (v.errors.length === 0) {
        process.stdout.write(`${v.files.length} files valid: ${v.files.join(", ")}\n`);
      } else {
        for (const e of v.errors) process.stderr.write(`${e.message} [${e.code}]\n`);
        process.stderr.write(`${v.errors.length} problem(s) in ${v.files.length} files\n`);
      }
      process.exitCode = v.errors.length === 0 ? ExitCode.ok : ExitCode.config;
    });
}
