/**
 * Throwaway projects for the CLI tests: a temp folder with ferry.yaml, a customer mapping, a SQL job on a
 * legacy SQLite database and a CSV job, plus `ferry(...)`, which runs the real CLI as a child process.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";

export const ROOT = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const CLI = path.join(ROOT, "src", "cli", "main.ts");
export const TOKEN = "cli-test-token";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Node's compile cache, shared by every child: each CLI start loads the same modules, and the cache about
 * halves the time that takes. Node checks each entry against its source, so a stale cache is harmless.
 */
const COMPILE_CACHE = process.env.NODE_COMPILE_CACHE ?? path.join(os.tmpdir(), "ferry-test-compile-cache");

/** The environment of a child: no inherited HubSpot settings, nothing from the test runner. */
export function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env, NODE_COMPILE_CACHE: COMPILE_CACHE };
  for (const name of ["HUBSPOT_BASE_URL", "HUBSPOT_TOKEN", "FERRY_LOG_LEVEL", "NODE_TEST_CONTEXT"])
    delete out[name];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete out[name];
    else out[name] = value;
  }
  return out;
}

/** Resolves when `child` exits, or rejects (after killing it) when it runs past the deadline. */
export function exited(child: ChildProcess, deadlineMs: number, what: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${what} still running after ${deadlineMs} ms`));
    }, deadlineMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Runs `ferry --config <dir> ...args`, its standard input empty. */
export function ferry(
  dir: string,
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  deadlineMs = 60_000,
): Promise<CliResult> {
  return runFerry(dir, args, { env, deadlineMs });
}

/** Runs `ferry --config <dir> ...args` with `input` on its standard input (a pipe, not a terminal). */
export function ferryWithInput(
  dir: string,
  args: readonly string[],
  input: string,
  env: Record<string, string | undefined> = {},
): Promise<CliResult> {
  return runFerry(dir, args, { env, deadlineMs: 60_000, input });
}

async function runFerry(
  dir: string,
  args: readonly string[],
  options: { env: Record<string, string | undefined>; deadlineMs: number; input?: string },
): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, "--config", dir, ...args], {
    cwd: dir,
    env: childEnv(options.env),
    stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  if (options.input !== undefined) {
    // A command that stops before reading its input closes the pipe: not the test's failure.
    child.stdin!.on("error", () => {});
    child.stdin!.end(options.input);
  }
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
  });
  child.stderr!.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  const code = await exited(child, options.deadlineMs, `ferry ${args.join(" ")}`);
  return { code, stdout, stderr };
}

/** An assertion message that shows what the CLI printed. */
export function shown(r: CliResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** A URL on 127.0.0.1 where nothing listens: a port that was free a moment ago. */
export async function closedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
  return `http://127.0.0.1:${port}`;
}

export const FERRY_YAML = `state:
  path: .ferry/state.db
http:
  listen: 127.0.0.1:0
connections:
  legacy:
    dialect: sqlite
    path: legacy.db
destinations:
  hubspot:
    type: hubspot
    base_url: \${env:HUBSPOT_BASE_URL}
    token: \${env:HUBSPOT_TOKEN}
    rate_limit: null
    max_attempts: 2
    timeout: 5s
`;

export const CUSTOMER_MAPPING = `entity: customer
key: customer_no
fields:
  customer_no: { type: string }
  name: { type: string, rule: { owner: legacy } }
  email: { type: email, rule: { priority: [field, legacy] } }
  phone: { type: string, rule: flag }
sources:
  legacy:
    customer_no: ID
    name: NAME
    email: EMAIL
    phone: PHONE
  field:
    customer_no: "Customer #"
    email: E-mail
    phone: Phone
destinations:
  hubspot:
    object: contacts
    match: { property: customer_no }
    fields:
      customer_no: customer_no
      name: firstname
      email: email
      phone: phone
`;

export const LEGACY_JOB = `description: Customers from the legacy database.
source:
  type: sql
  connection: legacy
  query: SELECT ID, NAME, EMAIL, PHONE FROM CUSTOMERS
mapping: customer
as: legacy
deletes:
  policy: propagate
  max_share: 0.2
`;

export const FIELD_JOB = `source:
  type: csv
  path: field.csv
mapping: customer
as: field
deletes:
  policy: ignore
`;

/** K2 brings a new email and a phone that disagrees with the legacy one; line 4 (K3) is rejected. */
export const FIELD_CSV = [
  "Customer #,E-mail,Phone",
  "K1,n1@legacy.example,+1 555 0001",
  "K2,k2@field.example,+1 999 0002",
  "K3,not-an-email,+1 555 0003",
  "",
].join("\n");

export interface Customer {
  ID: string;
  NAME: string;
  EMAIL: string;
  PHONE: string;
}

export function customers(count: number): Customer[] {
  return Array.from({ length: count }, (_, i) => ({
    ID: `K${i + 1}`,
    NAME: `Name ${i + 1}`,
    EMAIL: `n${i + 1}@legacy.example`,
    PHONE: `+1 555 000${i + 1}`,
  }));
}

export interface CliProject {
  readonly dir: string;
  readonly stateFile: string;
  write(relative: string, text: string): void;
  /** Runs one statement on the legacy database. */
  legacy(sql: string, ...params: (string | number)[]): void;
  /** A copy of this project in a new folder, without its state. */
  copy(): CliProject;
  cleanup(): void;
}

function wrap(dir: string): CliProject {
  const self: CliProject = {
    dir,
    stateFile: path.join(dir, ".ferry", "state.db"),
    write(relative, text) {
      const file = path.join(dir, relative);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, text);
    },
    legacy(sql, ...params) {
      const db = new Database(path.join(dir, "legacy.db"));
      try {
        db.prepare(sql).run(...params);
      } finally {
        db.close();
      }
    },
    copy() {
      const to = mkdtempSync(path.join(os.tmpdir(), "ferry-cli-"));
      cpSync(dir, to, { recursive: true, filter: (src) => !src.includes(`${path.sep}.ferry`) });
      return wrap(to);
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}

export function createCliProject(options: { customers?: number; files?: Record<string, string> } = {}) {
  const project = wrap(mkdtempSync(path.join(os.tmpdir(), "ferry-cli-")));
  project.write("ferry.yaml", FERRY_YAML);
  project.write("mappings/customer.yaml", CUSTOMER_MAPPING);
  project.write("jobs/legacy.yaml", LEGACY_JOB);
  project.write("jobs/field.yaml", FIELD_JOB);
  project.write("field.csv", FIELD_CSV);
  for (const [relative, text] of Object.entries(options.files ?? {})) project.write(relative, text);
  const db = new Database(path.join(project.dir, "legacy.db"));
  try {
    db.exec("CREATE TABLE CUSTOMERS (ID TEXT PRIMARY KEY, NAME TEXT, EMAIL TEXT, PHONE TEXT)");
    const insert = db.prepare("INSERT INTO CUSTOMERS VALUES (@ID, @NAME, @EMAIL, @PHONE)");
    db.transaction(() => {
      for (const c of customers(options.customers ?? 10)) insert.run(c);
    })();
  } finally {
    db.close();
  }
  return project;
}

/** The 1-based line of the first line of `text` that contains `needle`. */
export function lineOf(text: string, needle: string): number {
  const index = text.split("\n").findIndex((l) => l.includes(needle));
  if (index < 0) throw new Error(`no line with ${JSON.stringify(needle)}`);
  return index + 1;
}
