/**
 * MariaDB (or MySQL) for tests, the counterpart of pg.ts: a throwaway database per caller on the server
 * named by `FERRY_TEST_MYSQL_URL` (default: root without a password on 127.0.0.1:3306). Tests that need
 * it skip with a message saying what is missing when the server cannot be reached, except under
 * `FERRY_REQUIRE_SERVICES=1`, where that is a failure.
 */
import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";
import type { TestDatabase } from "./pg.ts";
import { assertAvailable, skipUnlessRequired } from "./services.ts";

export const MYSQL_BASE_URL = process.env.FERRY_TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";

/** The base URL with any password hidden, for messages. */
export function redactedMysqlBaseUrl(): string {
  return MYSQL_BASE_URL.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

let probe: Promise<string | null> | undefined;

/** Null when the server answers, else why it does not (cached for the process). */
export function mysqlUnavailableReason(): Promise<string | null> {
  probe ??= (async () => {
    let conn: mysql.Connection | undefined;
    try {
      conn = await mysql.createConnection({ uri: MYSQL_BASE_URL, connectTimeout: 3_000 });
      await conn.query("SELECT 1");
      return null;
    } catch (e) {
      // A refused connection to a name with several addresses is an AggregateError with an empty message.
      const err = e as Error & { code?: string };
      const why = err.message || err.code || String(e);
      return `MariaDB is not reachable at ${redactedMysqlBaseUrl()} (${why}); start it or set FERRY_TEST_MYSQL_URL`;
    } finally {
      await conn?.end().catch(() => {});
    }
  })();
  return probe;
}

export async function mysqlAvailable(): Promise<boolean> {
  return (await mysqlUnavailableReason()) === null;
}

/**
 * What to pass as a test's or suite's `skip` option: a message when MariaDB is missing and allowed to be,
 * else false. Under FERRY_REQUIRE_SERVICES=1 it is always false, so the test runs and fails in
 * `createTestMysqlDatabase` with the reason.
 */
export async function mysqlSkip(): Promise<string | false> {
  const reason = await mysqlUnavailableReason();
  return skipUnlessRequired(reason);
}

async function admin<T>(fn: (conn: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = await mysql.createConnection({ uri: MYSQL_BASE_URL, connectTimeout: 5_000 });
  try {
    return await fn(conn);
  } finally {
    await conn.end();
  }
}

/**
 * Creates a uniquely named database (`ferry_test_<pid>_<random>`, utf8mb4); throws when the server is
 * missing. Its `drop()` first kills the connections still using it, as PostgreSQL's `WITH (FORCE)` does:
 * MariaDB would otherwise wait for their metadata locks.
 */
export async function createTestMysqlDatabase(): Promise<TestDatabase> {
  const reason = await mysqlUnavailableReason();
  assertAvailable(reason);
  const name = `ferry_test_${process.pid}_${randomBytes(5).toString("hex")}`;
  await admin((c) => c.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`));
  const url = new URL(MYSQL_BASE_URL);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      await admin(async (c) => {
        const [rows] = await c.query<mysql.RowDataPacket[]>(
          "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()",
          [name],
        );
        for (const { id } of rows) {
          // It may have ended since the SELECT.
          await c.query(`KILL CONNECTION ${Number(id)}`).catch(() => {});
        }
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      });
    },
  };
}
