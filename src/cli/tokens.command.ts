/** `ferry tokens create|list|revoke`: API tokens for scripts calling the console's JSON API. */
import type { Command } from "commander";
import { createToken, listTokens, revokeToken, type TokenInfo } from "../console/auth/identity.ts";
import { ConfigError } from "../errors.ts";
import { type GlobalOptions, openContext } from "./context.ts";
import { printJson, printTable } from "./output.ts";
import { cliActor } from "./password-input.ts";

interface CreateOptions {
  user: string;
  name: string;
  expires?: string;
}

const UNITS: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** `--expires`: a lifetime (`12h`, `90d`, `4w`) from `now`, a date (`2027-01-31`, UTC midnight) or `never`. */
export function expiryOf(text: string, now: Date): Date | undefined {
  const value = text.trim();
  if (value === "never") return undefined;
  const m = /^(\d+)\s*([hdw])$/.exec(value);
  if (m) return new Date(now.valueOf() + Number(m[1]) * UNITS[m[2]!]!);
  if (/^\d{4}-\d{2}-\d{2}(T.*)?$/.test(value) && !Number.isNaN(Date.parse(value))) return new Date(value);
  throw new ConfigError("CLI_BAD_OPTION", `--expires ${text}: give a lifetime such as 12h, 90d or 4w, a date such as 2027-01-31, or never`);
}

function tokenId(text: string): number {
  const id = Number(text);
  if (!Number.isInteger(id) || id < 1) throw new ConfigError("TOKEN_UNKNOWN", `not a token id: ${text} (ids are the numbers \`ferry tokens list\` shows)`);
  return id;
}

export function registerTokensCommand(program: Command, globals: () => GlobalOptions) {
  const tokens = program.command("tokens").description("API tokens: each acts as a user, with that user's role");

  tokens
    .command("create")
    .description("make a token and print it, once: it cannot be shown again; audited")
    .requiredOption("--user <name>", "the user it acts as")
    .requiredOption("--name <label>", "what uses it, to recognise it in the list")
    .option("--expires <when>", "a lifetime (90d, 12h, 4w), a date (2027-01-31), or never", "never")
    .action((opts: CreateOptions) => createCommand(globals(), opts));

  tokens
    .command("list")
    .description("every token, newest first, with its status (never its value)")
    .option("--user <name>", "only this user's")
    .action((opts: { user?: string }) => listCommand(globals(), opts));

  tokens
    .command("revoke <id>")
    .description("refuse a token from now on, for good; audited")
    .action((id: string) => revokeCommand(globals(), id));
}

async function createCommand(g: GlobalOptions, opts: CreateOptions) {
  const now = new Date();
  const expiresAt = expiryOf(opts.expires ?? "never", now);
  const ctx = await openContext(g);
  try {
    const request = { user: opts.user, name: opts.name, ...(expiresAt ? { expiresAt } : {}) };
    const { token, info } = await createToken(ctx.store.knex, request, cliActor(), now);
    if (g.json) {
      printJson({ token, ...info });
      return;
    }
    process.stdout.write(`${token}\n`);
    const until = info.expires_at ? `until ${info.expires_at}` : "with no expiry";
    process.stderr.write(
      `ferry: API token ${info.id} (${info.name}) acts as ${info.user}, ${until}. It is shown only this once: store it now (a secret store, not a file in a repository).\n`,
    );
  } finally {
    await ctx.close();
  }
}

const row = (t: TokenInfo) => ({
  id: t.id,
  name: t.name,
  user: t.user,
  token: `${t.prefix}…`,
  status: t.status,
  expires_at: t.expires_at ?? "never",
  last_used_at: t.last_used_at ?? "never",
  created_at: t.created_at,
  created_by: t.created_by,
});

async function listCommand(g: GlobalOptions, opts: { user?: string }) {
  const ctx = await openContext(g);
  try {
    const tokens = await listTokens(ctx.store.knex, new Date(), opts.user === undefined ? {} : { user: opts.user });
    if (g.json) printJson(tokens);
    else printTable(tokens.map(row));
  } finally {
    await ctx.close();
  }
}

async function revokeCommand(g: GlobalOptions, text: string) {
  const id = tokenId(text);
  const ctx = await openContext(g);
  try {
    const token = await revokeToken(ctx.store.knex, id, cliActor(), new Date());
    if (g.json) printJson(token);
    else process.stdout.write(`revoked API token ${token.id} (${token.name}, acting as ${token.user})\n`);
  } finally {
    await ctx.close();
  }
}
