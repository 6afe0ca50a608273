/** `ferry users add|list|disable|enable|passwd`: the console's users, managed from the state store's side. */
import type { Command } from "commander";
import { addUser, disableUser, enableUser, listUsers, setPassword, type User } from "../console/auth/identity.ts";
import { ROLES, roleOf } from "../console/auth/roles.ts";
import { checkName, checkNameFree, userNamed } from "../console/auth/users.ts";
import { type GlobalOptions, openContext } from "./context.ts";
import { printJson, printTable } from "./output.ts";
import { cliActor, readNewPassword } from "./password-input.ts";

interface PasswordOptions {
  passwordStdin?: boolean;
}

interface AddOptions extends PasswordOptions {
  role: string;
}

export function registerUsersCommand(program: Command, globals: () => GlobalOptions) {
  const users = program
    .command("users")
    .description("the console's users and their roles (viewer reads; operator also settles; admin also manages users and tokens)");

  users
    .command("add <name>")
    .description("add a user; the password comes from standard input, or is asked for twice on a terminal; audited")
    .requiredOption("--role <role>", ROLES.join(" | "))
    .option("--password-stdin", "read the password from standard input, even on a terminal")
    .action((name: string, opts: AddOptions) => addCommand(globals(), name, opts));

  users.command("list").description("every user, with role and status").action(() => listCommand(globals()));

  users
    .command("disable <name>")
    .description("stop a user: their sessions end, they cannot log in, their API tokens are refused; audited")
    .action((name: string) => setDisabledCommand(globals(), name, true));

  users
    .command("enable <name>")
    .description("let a disabled user log in again (their tokens not revoked work again); audited")
    .action((name: string) => setDisabledCommand(globals(), name, false));

  users
    .command("passwd <name>")
    .description("set a user's password (from standard input, or asked for twice); ends their sessions; audited")
    .option("--password-stdin", "read the password from standard input, even on a terminal")
    .action((name: string, opts: PasswordOptions) => passwdCommand(globals(), name, opts));
}

const describeUser = (u: User) => ({ id: u.id, name: u.name, role: u.role, status: u.disabled ? "disabled" : "active", created_at: u.created_at });

async function addCommand(g: GlobalOptions, name: string, opts: AddOptions) {
  // What can be refused without the password is, before anyone types it.
  checkName(name);
  roleOf(opts.role);
  const ctx = await openContext(g);
  try {
    await checkNameFree(ctx.store.knex, name);
    const password = await readNewPassword({ stdin: opts.passwordStdin, what: name });
    const user = await addUser(ctx.store.knex, { name, role: opts.role, password }, cliActor(), new Date());
    if (g.json) printJson(user);
    else process.stdout.write(`added user ${user.name} (${user.role})\n`);
  } finally {
    await ctx.close();
  }
}

async function listCommand(g: GlobalOptions) {
  const ctx = await openContext(g);
  try {
    const users = await listUsers(ctx.store.knex);
    if (g.json) printJson(users);
    else printTable(users.map(describeUser));
  } finally {
    await ctx.close();
  }
}

async function setDisabledCommand(g: GlobalOptions, name: string, disabled: boolean) {
  const ctx = await openContext(g);
  try {
    const change = disabled ? disableUser : enableUser;
    const user = await change(ctx.store.knex, name, cliActor(), new Date());
    if (g.json) printJson(user);
    else if (disabled) {
      process.stdout.write(`disabled ${user.name}: their sessions ended and their API tokens are refused (\`ferry users enable ${user.name}\` undoes it)\n`);
    } else process.stdout.write(`enabled ${user.name}\n`);
  } finally {
    await ctx.close();
  }
}

async function passwdCommand(g: GlobalOptions, name: string, opts: PasswordOptions) {
  const ctx = await openContext(g);
  try {
    await userNamed(ctx.store.knex, name);
    const password = await readNewPassword({ stdin: opts.passwordStdin, what: name });
    const user = await setPassword(ctx.store.knex, { name, password }, cliActor(), new Date());
    if (g.json) printJson(user);
    else process.stdout.write(`password of ${user.name} set; their sessions ended\n`);
  } finally {
    await ctx.close();
  }
}
