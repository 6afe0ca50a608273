import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError } from "../../errors.ts";
import { assertReadOnlyQuery, stripLiterals } from "./read-only.ts";

const where = { file: "jobs/erp.yaml", path: "source.query" };
const advice = "Ferry only reads from sources: write a single SELECT (or WITH ... SELECT) statement";

function refused(sql: string): ConfigError {
  try {
    assertReadOnlyQuery(sql, where);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.code, "SOURCE_SQL_NOT_READ_ONLY");
    assert.equal(e.kind, "config");
    assert.deepEqual(e.location, where);
    return e;
  }
  assert.fail(`accepted: ${sql}`);
}

const message = (why: string) => `jobs/erp.yaml (source.query): ${why}. ${advice}`;

describe("accepted", () => {
  const queries = [
    "SELECT 1",
    "select id, name from customers",
    "SELECT * FROM t;",
    "SELECT * FROM t ;  \n",
    "-- all customers\nSELECT * FROM customers",
    "/* nightly */ WITH recent AS (SELECT * FROM t) SELECT * FROM recent",
    "SELECT * FROM t WHERE note = 'delete;'",
    "SELECT 'it''s; drop table x' AS s FROM t",
    "SELECT \"update\", \"drop\" FROM t",
    "SELECT \"a\"\"; delete\" FROM t",
    "SELECT `insert` FROM [delete]",
    "SELECT REPLACE(name, 'x', 'y') FROM t",
    "SELECT created_at, updated_at, deleted FROM t",
    "SELECT 1 -- ; DROP TABLE t",
    "SELECT 1 /* ; DROP TABLE t */",
    "SELECT * FROM t FOR SHARE",
    "  \n\tselect 1",
  ];
  for (const sql of queries) {
    test(JSON.stringify(sql), () => {
      assert.doesNotThrow(() => assertReadOnlyQuery(sql, where));
    });
  }
});

describe("refused", () => {
  test("statements that are not SELECT or WITH", () => {
    for (const sql of [
      "INSERT INTO t VALUES (1)",
      "update t set a = 1",
      "DELETE FROM t",
      "DROP TABLE t",
      "REPLACE INTO t VALUES (1)",
      "PRAGMA writable_schema = 1",
      "/* */ DELETE FROM t",
      "-- SELECT\nDELETE FROM t",
      "selector",
      "",
    ]) {
      assert.equal(refused(sql).message, message("the query does not start with SELECT or WITH"), sql);
    }
  });

  test("stacked statements", () => {
    for (const sql of [
      "SELECT 1; DROP TABLE x",
      "SELECT 1;;",
      "SELECT 1; SELECT 2",
      "SELECT ';' ; SELECT 1",
    ]) {
      assert.equal(refused(sql).message, message("the query holds more than one statement"), sql);
    }
  });

  test("write keywords inside a SELECT or WITH", () => {
    const cases: [string, string][] = [
      ["SELECT a INTO b FROM t", "INTO"],
      ["SELECT * FROM t FOR UPDATE", "UPDATE"],
      ["SELECT * FROM t FOR\n  update", "UPDATE"],
      ["WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", "DELETE"],
      ["WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "INSERT"],
      ["SELECT * FROM t LOCK IN SHARE MODE", "LOCK"],
      ["SELECT 1 /* */ , (drop)", "DROP"],
    ];
    for (const [sql, word] of cases) {
      assert.equal(refused(sql).message, message(`the query contains "${word}"`), sql);
    }
  });
});

describe("stripLiterals", () => {
  test("drops comments and blanks literals and quoted names", () => {
    assert.equal(stripLiterals("a 'x''y' \"q\" -- c\n /* d */ [z] `w` b"), "a '' \"\"  \n   \"\" \"\" b");
  });
  test("an unterminated literal or comment swallows the rest", () => {
    assert.equal(stripLiterals("SELECT 'abc; DROP TABLE t"), "SELECT ''");
    assert.equal(stripLiterals("SELECT 1 /* ; DROP"), "SELECT 1  ");
  });
});
