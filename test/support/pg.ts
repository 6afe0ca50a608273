/**
 * PostgreSQL for tests: a throwaway database per caller on the server named by `FERRY_TEST_PG_URL`
 * (default: trust auth on 127.0.0.1:5432). Tests that need it skip with a message saying what is missing
 * when the server cannot be reached, except under `FERRY_REQUIRE_SERVICES=1`, where that is a failure.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { assertAvailable, skipUnlessRequired } from "./services.ts";

export const PG_BASE_URL = process.env.FERRY_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** The base URL with any password hidden, for messages. */
export function redactedBaseUrl(): string {
  return PG_BASE_URL.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

let probe: Promise<string | null> | undefined;

/** Null when the server answers, else why it does not (cached for the process). */
export function pgUnavailableReason(): Promise<string | null> {
  probe ??= (async () => {
    const client = new pg.Client({ connectionString: PG_BASE_URL, connectionTimeoutMillis: 3_000 });
    try {
      await client.connect();
      await client.query("SELECT 1");
      return null;
    } catch (e) {
      return `PostgreSQL is not reachable at ${redactedBaseUrl()} (${(e as Error).message}); start it or set FERRY_TEST_PG_URL`;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return probe;
}

export async function pgAvailable(): Promise<boolean> {
  return (await pgUnavailableReason()) === null;
}

/**
 * What to pass as a test's or suite's `skip` option: a message when PostgreSQL is missing and allowed to
 * be, else false. Under FERRY_REQUIRE_SERVICES=1 it is always false, so the test runs and fails in
 * `createTestDatabase` with the reason.
 */
export async function pgSkip(): Promise<string | false> {
  const reason = await pgUnavailableReason();
  return skipUnlessRequired(reason);
}

export interface TestDatabase {
  /** Connection URL of the new database. */
  url: string;
  name: string;
  /** Drops the database, closing any connection still open to it. */
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_BASE_URL, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a uniquely named database (`ferry_test_<pid>_<random>`); throws when the server is missing. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const reason = await pgUnavailableReason();
  assertAvailable(reason);
  const name = `ferry_test_${process.pid}_${randomBytes(5).toString("hex")}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(PG_BASE_URL);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
