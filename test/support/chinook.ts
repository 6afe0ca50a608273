/**
 * The Chinook sample database (a music store: customers, employees, invoices...; v1.4.5, MIT, by Luis
 * Rocha) loaded into PostgreSQL, MariaDB or SQLite for integration tests of the `sql` source. The scripts
 * are shared by every checkout and read in place from `../shared/datasets/chinook` beside the repository,
 * never copied into it; when that folder is absent, `chinookSkip()` says so.
 *
 * The scripts differ in naming: Chinook_PostgreSql.sql uses lower snake_case (`customer.customer_id`,
 * `invoice.billing_postal_code`), Chinook_MySql.sql and Chinook_Sqlite.sql PascalCase (`Customer`.
 * `CustomerId`). `CHINOOK_NAMES` maps one logical name to each; all names are safe unquoted, but MariaDB
 * on Linux compares table names case-sensitively, so write them as given.
 *
 * What each server makes of the same data:
 * - PostgreSQL: the script writes text as `N'...'`, which PostgreSQL types as `char`; stored into a
 *   VARCHAR it loses trailing spaces (customer 54's city is `Edinburgh ` in the script, `Edinburgh` here).
 * - MariaDB: the script has backslashes in track names (`Cavalleria Rusticana \ Act \ ...`), which
 *   MariaDB would read as escapes and drop; the loader sets NO_BACKSLASH_ESCAPES so they stay.
 * - SQLite: NUMERIC(10,2) has numeric affinity, so `Total` is a REAL (1.98 as a double, not a decimal);
 *   dates are TEXT such as `2021-01-01 00:00:00`. The other two keep exact decimals (strings from pg and
 *   mysql2) and DATETIME/TIMESTAMP without zone.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import mysql from "mysql2/promise";
import pg from "pg";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const CHINOOK_DIR = path.resolve(REPO_ROOT, "../shared/datasets/chinook");

/** The folder holding the Chinook scripts, or null when this machine lacks it. */
export function chinookDir(): string | null {
  return existsSync(CHINOOK_DIR) ? CHINOOK_DIR : null;
}

/**
 * The `skip` option for a test that needs Chinook: a message when the folder is missing, else false. The
 * shared folder is not a service, so it skips even under FERRY_REQUIRE_SERVICES=1.
 */
export function chinookSkip(): string | false {
  return chinookDir() === null ? `the Chinook sample scripts are missing: no folder ${CHINOOK_DIR}` : false;
}

/** Rows in the tables the tests count, the same in all three scripts. */
export const CHINOOK_COUNTS = { customers: 59, employees: 8, invoices: 412 } as const;

/** Known rows, as the scripts write them (see the header for what each server makes of them). */
export const CHINOOK_CUSTOMER_1 = { firstName: "Luís", lastName: "Gonçalves", email: "luisg@embraer.com.br" } as const;
export const CHINOOK_INVOICE_1 = { customerId: 2, invoiceDate: "2021-01-01", total: "1.98" } as const;

export type ChinookDialect = "postgres" | "mysql" | "sqlite";

// Logical name → name in Chinook_MySql.sql and Chinook_Sqlite.sql; PostgreSQL's are their snake_case.
const PASCAL_NAMES = {
  customer: {
    table: "Customer",
    id: "CustomerId",
    firstName: "FirstName",
    lastName: "LastName",
    company: "Company",
    address: "Address",
    city: "City",
    state: "State",
    country: "Country",
    postalCode: "PostalCode",
    phone: "Phone",
    fax: "Fax",
    email: "Email",
    supportRepId: "SupportRepId",
  },
  employee: {
    table: "Employee",
    id: "EmployeeId",
    lastName: "LastName",
    firstName: "FirstName",
    title: "Title",
    reportsTo: "ReportsTo",
    birthDate: "BirthDate",
    hireDate: "HireDate",
    address: "Address",
    city: "City",
    state: "State",
    country: "Country",
    postalCode: "PostalCode",
    phone: "Phone",
    fax: "Fax",
    email: "Email",
  },
  invoice: {
    table: "Invoice",
    id: "InvoiceId",
    customerId: "CustomerId",
    invoiceDate: "InvoiceDate",
    billingAddress: "BillingAddress",
    billingCity: "BillingCity",
    billingState: "BillingState",
    billingCountry: "BillingCountry",
    billingPostalCode: "BillingPostalCode",
    total: "Total",
  },
} as const;

export type ChinookTable = keyof typeof PASCAL_NAMES;

/** Per table: `table`, then every column by a logical name. */
export type ChinookNames = { readonly [T in ChinookTable]: { readonly [K in keyof (typeof PASCAL_NAMES)[T]]: string } };

const snakeCase = (name: string) => name.replace(/(?<=[a-z0-9])(?=[A-Z])/g, "_").toLowerCase();

const SNAKE_NAMES = Object.fromEntries(
  Object.entries(PASCAL_NAMES).map(([table, names]) => [
    table,
    Object.fromEntries(Object.entries(names).map(([key, name]) => [key, snakeCase(name)])),
  ]),
) as ChinookNames;

/**
 * Table and column names of customer, employee and invoice per dialect, for one query per dialect:
 * `const c = CHINOOK_NAMES[dialect].customer; SELECT ${c.email} FROM ${c.table} WHERE ${c.id} = 1`.
 * Each table's entry lists all of its columns.
 */
export const CHINOOK_NAMES: Readonly<Record<ChinookDialect, ChinookNames>> = {
  postgres: SNAKE_NAMES,
  mysql: PASCAL_NAMES,
  sqlite: PASCAL_NAMES,
};

/**
 * The text of a SQL script: UTF-8, or UTF-16 when a BOM says so; a BOM is dropped. Throws on bytes that are
 * not valid in that encoding rather than loading mojibake. Line endings are left alone: CRLF is whitespace
 * to all three servers, and no literal in these scripts spans lines.
 */
export function readSqlScript(file: string): string {
  const bytes = readFileSync(file);
  const encoding =
    bytes[0] === 0xff && bytes[1] === 0xfe ? "utf-16le" : bytes[0] === 0xfe && bytes[1] === 0xff ? "utf-16be" : "utf-8";
  try {
    return new TextDecoder(encoding, { fatal: true }).decode(bytes);
  } catch (e) {
    throw new Error(`${file} is not valid ${encoding} text`, { cause: e });
  }
}

/**
 * Splits a script into statements at each `;` outside string literals, quoted identifiers ("..." and
 * `...`) and comments, dropping the comments and psql meta-commands (a line starting with `\`, such as
 * `\c chinook`). Enough for these generated scripts; it knows neither dollar quoting, nor `E'...'`, nor
 * MySQL's backslash escapes and `DELIMITER`.
 */
export function splitSqlScript(sql: string): string[] {
  const statements: string[] = [];
  let parts: string[] = [];
  let from = 0;
  let i = 0;
  const skipTo = (end: number) => {
    parts.push(sql.slice(from, i), " ");
    i = end;
    from = end;
  };
  const endOf = (needle: string, start: number) => {
    const at = sql.indexOf(needle, start);
    return at === -1 ? sql.length : at + needle.length;
  };
  while (i < sql.length) {
    const ch = sql[i]!;
    if (ch === "'" || ch === "\"" || ch === "`") {
      // A quote inside is doubled, which the scan sees as a closing quote directly followed by an opening one.
      i = endOf(ch, i + 1);
    } else if (ch === "-" && sql[i + 1] === "-") {
      skipTo(endOf("\n", i));
    } else if (ch === "/" && sql[i + 1] === "*") {
      skipTo(endOf("*/", i + 2));
    } else if (ch === "\\" && (parts.join("") + sql.slice(from, i)).trim() === "") {
      skipTo(endOf("\n", i));
    } else if (ch === ";") {
      const statement = (parts.join("") + sql.slice(from, i)).trim();
      if (statement !== "") statements.push(statement);
      parts = [];
      i += 1;
      from = i;
    } else {
      i += 1;
    }
  }
  const rest = (parts.join("") + sql.slice(from)).trim();
  if (rest !== "") statements.push(rest);
  return statements;
}

/** The scripts create and select a database of their own; the loaders use the one they are given. */
const DATABASE_LEVEL = /^(?:(?:CREATE|DROP)\s+DATABASE\b|USE\s)/i;

/** Statements of a script minus its database-level ones, joined into texts of at most ~256 KB. */
function scriptChunks(script: string): string[] {
  const dir = chinookDir();
  if (dir === null) throw new Error(chinookSkip() as string);
  const statements = splitSqlScript(readSqlScript(path.join(dir, script))).filter((s) => !DATABASE_LEVEL.test(s));
  const chunks: string[] = [];
  let chunk = "";
  for (const statement of statements) {
    if (chunk !== "" && chunk.length + statement.length > 256 * 1024) {
      chunks.push(chunk);
      chunk = "";
    }
    chunk += `${statement};\n`;
  }
  if (chunk !== "") chunks.push(chunk);
  return chunks;
}

const scriptError = (script: string, e: unknown) => new Error(`${script}: ${(e as Error).message}`, { cause: e });

/**
 * Loads Chinook_PostgreSql.sql into the (empty) database at `url`, in one transaction: all of it or none.
 * Each chunk holds many statements, which pg sends as one simple query.
 */
export async function loadChinookPostgres(url: string): Promise<void> {
  const script = "Chinook_PostgreSql.sql";
  const chunks = scriptChunks(script);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("BEGIN");
    for (const chunk of chunks) await client.query(chunk);
    await client.query("COMMIT");
  } catch (e) {
    throw scriptError(script, e);
  } finally {
    await client.end();
  }
}

/**
 * Loads Chinook_MySql.sql into the (empty) MariaDB or MySQL database at `url`. Not atomic: MariaDB commits
 * DDL implicitly, so a failed load leaves part of it behind; drop the database.
 */
export async function loadChinookMysql(url: string): Promise<void> {
  const script = "Chinook_MySql.sql";
  const chunks = scriptChunks(script);
  const conn = await mysql.createConnection({ uri: url, multipleStatements: true });
  try {
    await conn.query("SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'NO_BACKSLASH_ESCAPES')");
    for (const chunk of chunks) await conn.query(chunk);
  } catch (e) {
    throw scriptError(script, e);
  } finally {
    await conn.end();
  }
}

/** Loads Chinook_Sqlite.sql into the SQLite database `file` (created when missing), in one transaction. */
export function loadChinookSqlite(file: string): void {
  const dir = chinookDir();
  if (dir === null) throw new Error(chinookSkip() as string);
  const script = "Chinook_Sqlite.sql";
  const sql = readSqlScript(path.join(dir, script));
  const db = new Database(file);
  try {
    db.transaction(() => db.exec(sql))();
  } catch (e) {
    throw scriptError(script, e);
  } finally {
    db.close();
  }
}
