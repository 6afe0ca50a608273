/**
 * The `sql` source's read: for each page paging.ts asks for, runs it as a subquery of the job's query,
 * cuts its rows into batches of the job's size and makes their values canonical. Keyset paging keeps
 * memory flat whatever the table's size and makes every page a fresh, short, read-only statement.
 */
import { DataError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { ReadRequest, SourceBatch } from "../source.ts";
import { canonicalRow, rawValue } from "./canonical.ts";
import type { Dialect, ReadSettings } from "./dialects/dialect.ts";
import { phases, positionValue } from "./paging.ts";
import { guardLogin } from "./privileges.ts";
import type { Row, SqlClient } from "./sql.client.ts";

const DEFAULT_FETCH = 10_000;

/** What the operations of one `sql` source share. */
export interface SqlQuery {
  /** The connection's name in ferry.yaml, for messages. */
  connection: string;
  /** The job's query, ready to be a subquery (innerQuery). */
  query: string;
  dialect: Dialect;
  client: SqlClient;
  settings: ReadSettings;
  /** The job's fetch_size, when it sets one. */
  fetchSize: number | undefined;
  /** The job's cursor is a rowversion (cursor_type: rowversion). */
  rowversion: boolean;
  /** The connection's allow_privileged_login: a run may read through a privileged login. */
  allowPrivilegedLogin: boolean;
  log: Logger;
}

export async function* readSql(sql: SqlQuery, req: ReadRequest): AsyncGenerator<SourceBatch> {
  const { connection, query, dialect, client, rowversion } = sql;
  const fetchSize = sql.fetchSize ?? Math.max(req.batchSize, DEFAULT_FETCH);
  const counter = { line: 0 };
  await guardLogin(sql, req.signal);
  for (const phase of phases({ connection, dialect, fetchSize, rowversion }, req)) {
    for (let page = phase.next(); page !== null; page = phase.next()) {
      const rows = phase.take(await client.run(dialect.page({ query, ...page }), req.signal));
      for (let start = 0; start < rows.length; start += req.batchSize) {
        req.signal.throwIfAborted();
        yield toBatch(rows.slice(start, start + req.batchSize), req, sql.settings, counter, phase.withPosition);
      }
    }
  }
}

/** A batch of a page's rows, numbered on from `counter.line`; in cursor mode it carries the position after it. */
function toBatch(chunk: Row[], req: ReadRequest, settings: ReadSettings, counter: { line: number }, withPosition: boolean): SourceBatch {
  const batch: SourceBatch = { rows: [], rejects: [], columns: Object.keys(chunk[0]!) };
  if (withPosition && req.cursor) {
    // Taken before the rows are made canonical: a checkpoint holds the database's own form.
    const last = chunk.at(-1)!;
    batch.position = {
      cursor: positionValue(last[req.cursor.column]),
      key: positionValue(last[req.keyColumn]),
    };
  }
  let line = counter.line;
  for (const row of chunk) {
    line++;
    const k = row[req.keyColumn];
    const canonical = canonicalRow(row, settings.maxLobBytes);
    if ("refused" in canonical) {
      batch.rejects.push({
        line,
        error: new DataError(
          "DATA_SQL_VALUE_REFUSED",
          `row ${line}${k === null || k === undefined ? "" : ` (key ${String(rawValue(k))})`}: ${canonical.refused}`,
        ),
      });
    } else batch.rows.push({ values: canonical.values, line });
  }
  counter.line = line;
  return batch;
}
