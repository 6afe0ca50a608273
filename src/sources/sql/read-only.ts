/**
 * The first line of read-only defence: a job's query must be exactly one SELECT or WITH statement. Comments
 * and string literals are skipped so that a keyword inside them neither passes nor fails a query.
 */
import { ConfigError, type ConfigLocation } from "../../errors.ts";

const WRITE_WORDS =
  /\b(insert|update|delete|merge|drop|alter|create|truncate|grant|revoke|exec|execute|call|attach|detach|pragma|vacuum|into|lock)\b/i;

/** The query's text with comments removed and string literals and quoted names blanked. */
export function stripLiterals(sql: string): string {
  let out = "";
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === "-" && next === "-") {
      while (i < sql.length && sql[i] !== "\n") i++;
      out += " ";
    } else if (c === "/" && next === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? sql.length : end + 2;
      out += " ";
    } else if (c === "'" || c === "\"" || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      i++;
      while (i < sql.length) {
        if (sql[i] === close) {
          if (sql[i + 1] === close) i += 2;
          else break;
        } else i++;
      }
      i++;
      out += c === "'" ? "''" : "\"\"";
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

export function assertReadOnlyQuery(sql: string, where: ConfigLocation): void {
  const text = stripLiterals(sql).trim().replace(/;\s*$/, "");
  const refuse = (why: string) => {
    throw new ConfigError(
      "SOURCE_SQL_NOT_READ_ONLY",
      `${why}. Ferry only reads from sources: write a single SELECT (or WITH ... SELECT) statement`,
      where,
    );
  };
  if (!/^(select|with)\b/i.test(text)) refuse("the query does not start with SELECT or WITH");
  if (text.includes(";")) refuse("the query holds more than one statement");
  const word = WRITE_WORDS.exec(text);
  if (word) refuse(`the query contains "${word[0].toUpperCase()}"`);
  if (/\bfor\s+update\b/i.test(text)) refuse("the query locks rows (FOR UPDATE)");
}
