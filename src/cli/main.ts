/**
 * The `ferry` command line. Exit codes: 0 ok, 1 some records rejected or failed delivery, 2 configuration
 * invalid, 3 refused by a safety guard, 4 a system unreachable (records left pending), 5 credentials a
 * destination refuses, 6 the job running in another process, 70 a bug (src/errors.ts).
 */
import "./heap.ts";
import { Command } from "commander";
import { exitCodeFor } from "../errors.ts";
import { registerCheckCommand } from "./check.command.ts";
import { registerConflictsCommand } from "./conflicts.command.ts";
import type { GlobalOptions } from "./context.ts";
import { registerDeliverCommand } from "./deliver.command.ts";
import { registerDlqCommand } from "./dlq.command.ts";
import { registerExplainCommand } from "./explain.command.ts";
import { printError } from "./output.ts";
import { registerPlanCommand } from "./plan.command.ts";
import { registerPruneCommand } from "./prune.command.ts";
import { registerRunCommand } from "./run.command.ts";
import { registerRunsCommand } from "./runs.command.ts";
import { registerServeCommand } from "./serve.command.ts";
import { registerTokensCommand } from "./tokens.command.ts";
import { registerUsersCommand } from "./users.command.ts";
import { registerValidateCommand } from "./validate.command.ts";
import { registerWorkersCommand } from "./workers.command.ts";

const program = new Command("ferry")
  .description(
    "Ferry: sync legacy databases and files into SaaS APIs, field by field, with conflicts for people to settle",
  )
  .option("-c, --config <path>", "ferry.yaml, or the folder holding it (default: ./ferry.yaml)")
  .option("--json", "machine-readable output")
  .showHelpAfterError();

// `ferry runs | head`: a reader that stops early is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

const globals = () => program.opts<GlobalOptions>();
registerRunCommand(program, globals);
registerPlanCommand(program, globals);
registerDeliverCommand(program, globals);
registerValidateCommand(program, globals);
registerCheckCommand(program, globals);
registerRunsCommand(program, globals);
registerConflictsCommand(program, globals);
registerExplainCommand(program, globals);
registerDlqCommand(program, globals);
registerServeCommand(program, globals);
registerPruneCommand(program, globals);
registerWorkersCommand(program, globals);
registerUsersCommand(program, globals);
registerTokensCommand(program, globals);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  printError(error, globals().json ?? false);
  process.exitCode = exitCodeFor(error);
}
