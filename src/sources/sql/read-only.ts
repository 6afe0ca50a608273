/**
 * The first line of read-only defence: a job's query must be exactly one SELECT or WITH ... SELECT statement,
 * checked before anything is sent to the database. The query is lexed the way its dialect lexes it, so a
 * keyword inside a string, a quoted name or a comment neither passes nor fails a query. The lexing assumes
 * the servers' default settings (MySQL without NO_BACKSLASH_ESCAPES, PostgreSQL with
 * standard_conforming_strings on); a read-only database account remains the real guarantee.
 */
import { ConfigError, type ConfigLocation } from "../../errors.ts";

export type SqlDialectName = "sqlite" | "postgres" | "mysql" | "mssql" | "oracle";

const words = (list: string) => new Set(list.split(" "));

/** Statements and clauses that write, lock, leave the transaction or reach past the database. */
const WRITES = words(
  "INSERT UPDATE DELETE MERGE UPSERT REPLACE DROP ALTER CREATE TRUNCATE RENAME GRANT REVOKE EXEC EXECUTE CALL DO "
  + "SET BEGIN COMMIT ROLLBACK SAVEPOINT DECLARE ANALYZE VACUUM SHUTDOWN KILL INTO",
);
// SQL Server needs no `;` between statements, hence its longer list.
const DIALECT_WRITES: Record<SqlDialectName, Set<string>> = {
  sqlite: words("ATTACH DETACH PRAGMA REINDEX"),
  postgres: words("COPY LOAD REFRESH REINDEX CLUSTER"),
  mysql: words("LOAD HANDLER"),
  mssql: words("OPENROWSET OPENDATASOURCE OPENQUERY BACKUP RESTORE DBCC WAITFOR RECONFIGURE CHECKPOINT BULK USE DENY"),
  oracle: new Set(),
};
/** SQL Server table hints that take or hold locks beyond a plain read. */
const LOCK_HINTS = words("UPDLOCK XLOCK HOLDLOCK TABLOCKX TABLOCK PAGLOCK ROWLOCK SERIALIZABLE REPEATABLEREAD");
/** Words that are also functions (MySQL's INSERT() and TRUNCATE(), everyone's REPLACE()). */
const FUNCTIONS = words("REPLACE INSERT TRUNCATE");
/** SQL Server's join and query hints: MERGE JOIN, OPTION (MERGE UNION), OPTION (USE HINT (...)). */
const HINTS: Record<string, Set<string>> = { MERGE: words("JOIN UNION"), USE: words("HINT PLAN") };

interface Scan {
  masked: string;
  unterminated: boolean;
}

/** PostgreSQL's `$$` and `$tag$`; `$1` is a parameter. */
const DOLLAR_TAG = /\$(?:[\p{L}_][\p{L}\p{N}_]*)?\$/uy;

function dollarTag(sql: string, at: number): string | undefined {
  DOLLAR_TAG.lastIndex = at;
  return DOLLAR_TAG.exec(sql)?.[0];
}

/** Letters, digits, `_` and `$`: what continues a name. */
const NAME_CHAR = /[\p{L}\p{N}_$]/u;

/** The run of name characters ending just before `end`. */
function nameBefore(sql: string, end: number): string {
  let start = end;
  while (start > 0 && NAME_CHAR.test(sql[start - 1]!)) start--;
  return sql.slice(start, end);
}

/** Index of the closing `close` of a literal whose content starts at `from`, or -1. */
function closing(sql: string, from: number, close: string, backslash: boolean, doubled: boolean): number {
  for (let j = from; j < sql.length; j++) {
    if (backslash && sql[j] === "\\") j++;
    else if (sql[j] === close) {
      if (doubled && sql[j + 1] === close) j++;
      else return j;
    }
  }
  return -1;
}

/** The index just past the block comment opening at `at`, or -1 if it never closes; `nested`: they nest. */
function commentEnd(sql: string, at: number, nested: boolean): number {
  let depth = 1;
  let end = at + 2;
  while (end < sql.length && depth > 0) {
    const pair = sql.slice(end, end + 2);
    if (pair === "*/" || (nested && pair === "/*")) {
      depth += pair === "*/" ? -1 : 1;
      end += 2;
    } else end++;
  }
  return depth > 0 ? -1 : end;
}

function scan(sql: string, dialect: SqlDialectName): Scan {
  const pg = dialect === "postgres";
  const my = dialect === "mysql";
  const ms = dialect === "mssql";
  const lite = dialect === "sqlite";
  const n = sql.length;
  const out = sql.split("");
  const blank = (from: number, to: number) => {
    for (let k = from; k < to && k < n; k++) if (out[k] !== "\n" && out[k] !== "\r") out[k] = " ";
  };
  let inExecutable = false;
  let i = 0;
  while (i < n) {
    const c = sql[i]!;
    const d = sql[i + 1];
    let end: number;
    if (inExecutable && c === "*" && d === "/") {
      inExecutable = false;
      end = i + 2;
      blank(i, end);
    } else if ((c === "-" && d === "-" && (!my || /^[\x00-\x20]?$/.test(sql[i + 2] ?? ""))) || (my && c === "#")) {
      end = sql.indexOf("\n", i);
      if (end < 0) end = n;
      blank(i, end);
    } else if (c === "/" && d === "*" && my && /^(!|M!)/.test(sql.slice(i + 2, i + 4))) {
      // MySQL and MariaDB run the content of /*! ... */ and /*M! ... */: only the markers are blanked.
      end = /^\/\*M?!\d*/.exec(sql.slice(i))![0].length + i;
      inExecutable = true;
      blank(i, end);
    } else if (c === "/" && d === "*") {
      end = commentEnd(sql, i, pg || ms);
      if (end < 0) return { masked: blankFrom(out, i), unterminated: true };
      blank(i, end);
    } else if (pg && c === "$" && !NAME_CHAR.test(sql[i - 1] ?? " ") && dollarTag(sql, i)) {
      const tag = dollarTag(sql, i)!;
      const close = sql.indexOf(tag, i + tag.length);
      if (close < 0) return { masked: blankFrom(out, i + 1), unterminated: true };
      end = close + tag.length;
      blank(i + 1, i + tag.length - 1);
      blank(i + tag.length, close);
      blank(close + 1, end - 1);
    } else if (c === "'" && dialect === "oracle" && /^\d*n?q$/i.test(nameBefore(sql, i)) && i + 1 < n) {
      const open = sql[i + 1]!;
      const close = ({ "[": "]", "{": "}", "(": ")", "<": ">" } as Record<string, string>)[open] ?? open;
      const at = sql.indexOf(`${close}'`, i + 2);
      if (at < 0) return { masked: blankFrom(out, i + 1), unterminated: true };
      end = at + 2;
      blank(i + 2, at);
    } else if (c === "'" || c === "\"" || (c === "`" && (my || lite)) || (c === "[" && (ms || lite))) {
      const close = c === "[" ? "]" : c;
      const backslash = (my && c !== "`") || (pg && c === "'" && /^\d*e$/i.test(nameBefore(sql, i)));
      const at = closing(sql, i + 1, close, backslash, !lite || c !== "[");
      if (at < 0) return { masked: blankFrom(out, i + 1), unterminated: true };
      end = at + 1;
      blank(i + 1, at);
    } else {
      end = i + 1;
    }
    i = end;
  }
  return { masked: out.join(""), unterminated: inExecutable };
}

function blankFrom(out: string[], from: number): string {
  return out.map((ch, k) => (k < from || ch === "\n" || ch === "\r" ? ch : " ")).join("");
}

/**
 * Same length as `sql`: comments become spaces; the contents of string literals and quoted identifiers
 * become spaces (their delimiters kept, so `'abc'` -> `'   '`; of a dollar quote only the `$` signs are
 * kept); newlines are kept everywhere so positions and line numbers still match. MySQL's executable
 * comments keep their content, which MySQL runs. An unterminated literal or comment is blanked to the end.
 */
export function maskSql(sql: string, dialect: SqlDialectName): string {
  return scan(sql, dialect).masked;
}

interface Token {
  /** Upper-cased for names and keywords. */
  text: string;
  start: number;
  end: number;
}

// A name starts with neither a digit nor `$`: SQL Server reads `1DELETE` and `$1DELETE` as a number then DELETE.
const TOKEN = /\d+\.?\d*(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?|[\p{L}_@#][\p{L}\p{N}_@#$]*|\S/giu;

function tokenize(masked: string): Token[] {
  return [...masked.matchAll(TOKEN)].map((m) => ({
    text: m[0].toUpperCase(),
    start: m.index,
    end: m.index + m[0].length,
  }));
}

function split(sql: string, tokens: Token[]): { ctes: string; body: string } | null {
  if (tokens[0]?.text !== "WITH") return null;
  let last = tokens.length - 1;
  if (tokens[last]?.text === ";") last--;
  let depth = 0;
  for (let k = 1; k <= last; k++) {
    const t = tokens[k]!;
    // The CTE list ends at a top-level SELECT, or at a parenthesised body right after a CTE's `)`.
    if (depth === 0 && (t.text === "SELECT" || (t.text === "(" && tokens[k - 1]!.text === ")"))) {
      return { ctes: sql.slice(tokens[0].start, tokens[k - 1]!.end), body: sql.slice(t.start, tokens[last]!.end) };
    }
    if (t.text === "(") depth++;
    else if (t.text === ")") depth--;
  }
  return null;
}

/**
 * For a query starting with WITH: the CTE list ("WITH a AS (...), b AS (...)", original text, comments
 * kept) and the final statement after it (original text), split at the top-level (parenthesis depth 0)
 * SELECT that follows the CTE list. Comments before the WITH or after the body and a trailing `;` are left
 * out, so `${ctes}, ferry_q AS (${body}) SELECT TOP ...` is well formed. null when the query does not start
 * with WITH or no SELECT follows its CTE list.
 */
export function splitCte(sql: string, dialect: SqlDialectName): { ctes: string; body: string } | null {
  return split(sql, tokenize(maskSql(sql, dialect)));
}

/** Why a lock clause starting at `tokens[k]` locks, e.g. "FOR NO KEY UPDATE", or undefined. */
function lockClause(tokens: Token[], k: number, dialect: SqlDialectName): string | undefined {
  const text = (from: number, to: number) => tokens.slice(from, to).map((t) => t.text).join(" ");
  const at = (offset: number) => tokens[k + offset]?.text;
  if (at(0) === "FOR") {
    const skip = at(1) === "NO" && at(2) === "KEY" ? 2 : at(1) === "KEY" ? 1 : 0;
    if (at(1 + skip) === "UPDATE" || at(1 + skip) === "SHARE") return text(k, k + 2 + skip);
  }
  if (at(0) === "LOCK" && at(1) === "IN" && at(3) === "MODE") return text(k, k + 4);
  if (dialect === "mssql" && LOCK_HINTS.has(at(0)!)) return at(0);
  return undefined;
}

/** Throws ConfigError code SOURCE_SQL_NOT_READ_ONLY (kind "config") with `where` as its location. */
export function assertReadOnlyQuery(sql: string, dialect: SqlDialectName, where: ConfigLocation): void {
  const refuse = (why: string): never => {
    throw new ConfigError(
      "SOURCE_SQL_NOT_READ_ONLY",
      `${why}. Ferry only reads from sources: write a single SELECT (or WITH ... SELECT) statement`,
      where,
    );
  };
  const { masked, unterminated } = scan(sql, dialect);
  if (unterminated) refuse("the query has an unterminated string or comment");
  const tokens = tokenize(masked);
  const first = tokens.find((t) => t.text !== "(")?.text;
  if (first !== "SELECT" && first !== "WITH") refuse("the query does not start with SELECT or WITH");
  if (tokens.some((t, k) => t.text === ";" && k < tokens.length - 1)) refuse("the query holds more than one statement");
  let depth = 0;
  for (const t of tokens) {
    depth += t.text === "(" ? 1 : t.text === ")" ? -1 : 0;
    if (depth < 0) break;
  }
  if (depth !== 0) refuse("the query has unbalanced parentheses");
  if (tokens[0]?.text === "WITH" && !split(sql, tokens)) refuse("the query's WITH list is not followed by a SELECT");
  const writes = DIALECT_WRITES[dialect];
  for (let k = 0; k < tokens.length; k++) {
    const word = tokens[k]!.text;
    const prev = tokens[k - 1]?.text;
    const next = tokens[k + 1]?.text;
    const lock = lockClause(tokens, k, dialect);
    if (lock) refuse(`the query locks rows (${lock})`);
    if (!WRITES.has(word) && !writes.has(word)) continue;
    if (prev === ".") continue; // a qualified name: t.update
    if (FUNCTIONS.has(word) && next === "(") continue;
    if (HINTS[word]?.has(next!)) continue;
    if (word === "SET" && prev === "CHARACTER") continue; // MySQL's CAST(x AS CHAR CHARACTER SET utf8mb4)
    refuse(`the query contains "${word}"`);
  }
}
