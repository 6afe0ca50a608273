/** The dialects the `sql` source speaks, by the `dialect:` of a connection. */
import type { Dialect, SqlDialectName } from "./dialect.ts";
import { mssql } from "./mssql.ts";
import { mysql } from "./mysql.ts";
import { oracle } from "./oracle.ts";
import { postgres } from "./postgres.ts";
import { sqlite } from "./sqlite.ts";

export const dialects: Record<SqlDialectName, Dialect> = { sqlite, postgres, mysql, mssql, oracle };
