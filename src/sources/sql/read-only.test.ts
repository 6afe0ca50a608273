import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError } from "../../errors.ts";
import { assertReadOnlyQuery, maskSql, splitCte, type SqlDialectName } from "./read-only.ts";

const where = { file: "jobs/erp.yaml", line: 4, path: "source.query" };
const advice = "Ferry only reads from sources: write a single SELECT (or WITH ... SELECT) statement";
const ALL: SqlDialectName[] = ["sqlite", "postgres", "mysql", "mssql", "oracle"];
const message = (why: string) => `jobs/erp.yaml:4 (source.query): ${why}. ${advice}`;

function refusal(sql: string, dialect: SqlDialectName): string {
  try {
    assertReadOnlyQuery(sql, dialect, where);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.code, "SOURCE_SQL_NOT_READ_ONLY");
    assert.equal(e.kind, "config");
    assert.deepEqual(e.location, where);
    return e.message;
  }
  assert.fail(`accepted on ${dialect}: ${sql}`);
}

type Dialects = SqlDialectName | SqlDialectName[] | "all";
const expand = (dialects: Dialects) => (dialects === "all" ? ALL : typeof dialects === "string" ? [dialects] : dialects);

describe("accepted", () => {
  const cases: [Dialects, string][] = [
    ["all", "SELECT 1"],
    ["all", "select id, name from customers"],
    ["all", "SELECT * FROM t;"],
    ["all", "SELECT * FROM t ;  \n"],
    ["all", "SELECT * FROM t; -- done\n/* really */ "],
    ["all", "-- all customers\nSELECT * FROM customers"],
    ["all", "  \n\tselect 1"],
    ["all", "/* nightly */ WITH recent AS (SELECT * FROM t) SELECT * FROM recent"],
    ["all", "WITH a AS (SELECT 1 AS x), b AS (SELECT x FROM a) SELECT * FROM b"],
    ["all", "(SELECT a FROM t) UNION (SELECT a FROM u)"],
    ["all", "SELECT * FROM t WHERE note = 'delete;'"],
    ["all", "SELECT 'a; DROP TABLE t' AS s FROM t"],
    ["all", "SELECT 'it''s; drop table x' AS s FROM t"],
    ["all", "SELECT \"update\", \"drop\", \"a\"\"; delete\" FROM t"],
    ["all", "SELECT REPLACE(name, 'x', 'y'), replace (a, b, c) FROM t"],
    ["all", "SELECT created_at, updated_at, deleted, is_deleted, insert_count, do_not_call FROM t"],
    ["all", "SELECT t.update, t.delete, x . set FROM t"],
    ["all", "SELECT 1 -- ; DROP TABLE t"],
    ["all", "SELECT 1 /* ; DROP TABLE t */"],
    ["all", "SELECT 1 /* a\n; DELETE\n*/ FROM t"],
    ["all", "SELECT * FROM t FOR XML PATH"],
    ["all", "SELECT a FROM t ORDER BY a OFFSET 10 ROWS FETCH NEXT 5 ROWS ONLY"],
    ["all", "SELECT N'déjà; DELETE' FROM t"],
    ["all", "SELECT 'ünïcödé', \"名前\" FROM t"],
    [["sqlite", "postgres", "mssql", "oracle"], "SELECT 'C:\\' FROM t WHERE a = 'update'"],
    ["sqlite", "SELECT `insert`, [delete], [a;b] FROM [update]"],
    ["sqlite", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT i FROM n"],
    ["postgres", "SELECT $$;DELETE$$, $body$ DROP TABLE t; $body$ FROM t"],
    ["postgres", "SELECT $a$ $b$ ; $b$ $a$"],
    ["postgres", "SELECT * FROM t WHERE id = $1 AND name = $2"],
    ["postgres", "SELECT E'\\';DELETE', e'\\\\' FROM t"],
    ["postgres", "SELECT U&'d\\0061t; drop', U&\"up;date\" FROM t"],
    ["postgres", "SELECT 1 /* /* */ DELETE */"],
    ["postgres", "SELECT arr[1], arr[2:3] FROM t"],
    ["postgres", "WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM t) SELECT * FROM t"],
    ["postgres", "WITH a AS MATERIALIZED (SELECT 1) SELECT * FROM a"],
    ["postgres", "(WITH a AS (SELECT 1) SELECT * FROM a) UNION ALL (SELECT 2)"],
    ["postgres", "SELECT a FROM t FOR READ ONLY"],
    ["mysql", "SELECT 'it\\'s; drop', \"it\\\"s; drop\" FROM t"],
    ["mysql", "SELECT `insert`, `a``;b` FROM `update`"],
    ["mysql", "SELECT 1 # ; DROP TABLE t"],
    ["mysql", "SELECT 1--1 FROM t"],
    ["mysql", "SELECT 1 --"],
    ["mysql", "SELECT 1 /*+ MAX_EXECUTION_TIME(1000) */ FROM t"],
    ["mysql", "SELECT /*!40001 SQL_NO_CACHE */ * FROM t"],
    ["mysql", "SELECT CAST(a AS CHAR CHARACTER SET utf8mb4), INSERT(s, 1, 2, 'x'), TRUNCATE(1.5, 0) FROM t"],
    ["mysql", "SELECT * FROM t USE INDEX (i) WHERE a = _utf8mb4'x'"],
    ["mssql", "SELECT [delete], [a]]; drop] FROM [update] WITH (NOLOCK)"],
    ["mssql", "SELECT * FROM t WITH (READUNCOMMITTED) WHERE a = N'it''s'"],
    ["mssql", "SELECT 1 /* /* */ DELETE */"],
    ["mssql", "SELECT @from, #tmp.a FROM #tmp"],
    ["mssql", "SELECT * FROM a INNER MERGE JOIN b ON a.id = b.id OPTION (MERGE JOIN)"],
    ["mssql", "WITH XMLNAMESPACES ('urn:x' AS x) SELECT 1"],
    ["mssql", "SELECT a FROM t OPTION (USE HINT ('FORCE_LEGACY_CARDINALITY_ESTIMATION'), MERGE UNION)"],
    ["mssql", "SELECT $1.50 AS price, a$b FROM t"],
    ["oracle", "SELECT q'[it's; drop]', q'{a}b}', Q'(x)', q'<y>', q'!a'b!', nq'#é#', NQ'[z]' FROM dual"],
    ["oracle", "SELECT N'x; drop' FROM dual"],
    ["oracle", "SELECT /*+ INDEX(t i) */ a FROM t"],
  ];
  for (const [dialects, sql] of cases) {
    for (const dialect of expand(dialects)) {
      test(`${dialect}: ${JSON.stringify(sql)}`, () => {
        assert.doesNotThrow(() => assertReadOnlyQuery(sql, dialect, where));
      });
    }
  }
});

describe("refused", () => {
  const cases: [Dialects, string, string][] = [
    ["all", "", "the query does not start with SELECT or WITH"],
    ["all", "-- only a comment", "the query does not start with SELECT or WITH"],
    ["all", "selector", "the query does not start with SELECT or WITH"],
    ["all", "INSERT INTO t VALUES (1)", "the query does not start with SELECT or WITH"],
    ["all", "update t set a = 1", "the query does not start with SELECT or WITH"],
    ["all", "/* */ DELETE FROM t", "the query does not start with SELECT or WITH"],
    ["all", "-- SELECT\nDELETE FROM t", "the query does not start with SELECT or WITH"],
    ["all", "'SELECT' ", "the query does not start with SELECT or WITH"],
    ["all", "EXPLAIN SELECT 1", "the query does not start with SELECT or WITH"],
    ["all", ";SELECT 1", "the query does not start with SELECT or WITH"],
    ["mysql", "REPLACE INTO t VALUES (1)", "the query does not start with SELECT or WITH"],
    ["sqlite", "PRAGMA writable_schema = 1", "the query does not start with SELECT or WITH"],
    ["postgres", "DO $$ BEGIN DELETE FROM t; END $$", "the query does not start with SELECT or WITH"],
    ["oracle", "BEGIN DELETE FROM t; END;", "the query does not start with SELECT or WITH"],

    ["all", "SELECT 1; DROP TABLE x", "the query holds more than one statement"],
    ["all", "SELECT 1;;", "the query holds more than one statement"],
    ["all", "SELECT 1; SELECT 2", "the query holds more than one statement"],
    ["all", "SELECT ';' ; SELECT 1", "the query holds more than one statement"],
    ["sqlite", "SELECT [a];[b]", "the query holds more than one statement"],
    ["mysql", "SELECT 1 --; DROP TABLE t", "the query holds more than one statement"],
    [["postgres", "sqlite", "mssql", "oracle"], "SELECT 1 # ; DROP TABLE t", "the query holds more than one statement"],
    ["postgres", "SELECT $1; DELETE FROM t", "the query holds more than one statement"],

    ["all", "SELECT 'abc; DROP TABLE t", "the query has an unterminated string or comment"],
    ["all", "SELECT 1 /* ; DROP", "the query has an unterminated string or comment"],
    ["all", "SELECT \"a FROM t", "the query has an unterminated string or comment"],
    [["postgres", "mssql"], "SELECT 1 /* /* */", "the query has an unterminated string or comment"],
    ["postgres", "SELECT $a$ x $b$", "the query has an unterminated string or comment"],
    ["postgres", "SELECT E'\\'", "the query has an unterminated string or comment"],
    ["mysql", "SELECT 'a\\'", "the query has an unterminated string or comment"],
    ["mysql", "SELECT /*! 1", "the query has an unterminated string or comment"],
    ["mssql", "SELECT [a]]", "the query has an unterminated string or comment"],
    ["oracle", "SELECT q'[x]' FROM dual WHERE q'[y'", "the query has an unterminated string or comment"],
    [["sqlite", "mysql"], "SELECT `a", "the query has an unterminated string or comment"],

    ["all", "SELECT (1", "the query has unbalanced parentheses"],
    ["all", "SELECT 1) AS q, (SELECT 1", "the query has unbalanced parentheses"],
    ["postgres", "WITH a AS (SELECT 1) TABLE a", "the query's WITH list is not followed by a SELECT"],

    ["all", "SELECT a INTO b FROM t", "the query contains \"INTO\""],
    ["mysql", "SELECT a FROM t INTO OUTFILE '/tmp/x'", "the query contains \"INTO\""],
    ["mysql", "SELECT a INTO DUMPFILE '/tmp/x' FROM t", "the query contains \"INTO\""],
    ["all", "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "the query contains \"INSERT\""],
    ["postgres", "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", "the query contains \"DELETE\""],
    ["postgres", "WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM x", "the query contains \"UPDATE\""],
    ["postgres", "WITH x AS (MERGE INTO t USING u ON true DO NOTHING RETURNING *) SELECT 1", "the query contains \"MERGE\""],
    ["sqlite", "WITH x AS (SELECT 1) REPLACE INTO t SELECT * FROM x", "the query contains \"REPLACE\""],
    ["all", "SELECT 1 /* */ , (drop)", "the query contains \"DROP\""],
    ["mysql", "SELECT 1 /* /* */ DELETE */", "the query contains \"DELETE\""],
    [["sqlite", "oracle"], "SELECT 1 /* /* */ DELETE */", "the query contains \"DELETE\""],
    ["mysql", "SELECT 1 /*! DELETE */", "the query contains \"DELETE\""],
    ["mysql", "SELECT 1 /*!50001 , (SELECT 1 FROM t) INTO OUTFILE '/tmp/x' */", "the query contains \"INTO\""],
    ["mysql", "SELECT 1 /*M!100100 INTO @x */", "the query contains \"INTO\""],
    ["mssql", "SELECT 1 DELETE FROM t", "the query contains \"DELETE\""],
    ["mssql", "SELECT 1DELETE FROM t", "the query contains \"DELETE\""],
    ["mssql", "SELECT 1.DELETE FROM t", "the query contains \"DELETE\""],
    ["mssql", "SELECT $1DELETE FROM t", "the query contains \"DELETE\""],
    ["mssql", "SELECT 1e1DELETE FROM t", "the query contains \"DELETE\""],
    ["mssql", "SELECT N'x'DELETE FROM t", "the query contains \"DELETE\""],
    ["mssql", "SELECT [a]UPDATE t SET a = 1", "the query contains \"UPDATE\""],
    ["mssql", "SELECT 1 EXEC('DROP TABLE t')", "the query contains \"EXEC\""],
    ["mssql", "SELECT 1 EXECUTE sp_who", "the query contains \"EXECUTE\""],
    ["mssql", "SELECT 1 SET NOCOUNT ON", "the query contains \"SET\""],
    ["mssql", "SELECT 1 DECLARE @x INT", "the query contains \"DECLARE\""],
    ["mssql", "SELECT 1 BEGIN TRAN", "the query contains \"BEGIN\""],
    ["mssql", "SELECT 1 COMMIT", "the query contains \"COMMIT\""],
    ["mssql", "SELECT 1 SHUTDOWN", "the query contains \"SHUTDOWN\""],
    ["mssql", "SELECT 1 KILL 52", "the query contains \"KILL\""],
    ["mssql", "SELECT 1 WAITFOR DELAY '00:10'", "the query contains \"WAITFOR\""],
    ["mssql", "SELECT * FROM OPENROWSET('SQLNCLI', 'x', 'SELECT 1')", "the query contains \"OPENROWSET\""],
    ["mssql", "SELECT * FROM OPENQUERY(remote, 'SELECT 1')", "the query contains \"OPENQUERY\""],
    ["mssql", "SELECT * FROM OPENDATASOURCE('SQLNCLI', 'x').db.dbo.t", "the query contains \"OPENDATASOURCE\""],
    ["mssql", "SELECT 1 MERGE t USING u ON 1 = 1 WHEN MATCHED THEN DELETE", "the query contains \"MERGE\""],
    ["mssql", "SELECT 1 USE master", "the query contains \"USE\""],
    ["sqlite", "SELECT 1 FROM t WHERE 0 UNION SELECT 1 FROM pragma_x ATTACH", "the query contains \"ATTACH\""],
    ["postgres", "SELECT 1 FROM t COPY", "the query contains \"COPY\""],
    ["all", "SELECT 1 FROM t CALL", "the query contains \"CALL\""],
    ["all", "SELECT 1 FROM t CREATE", "the query contains \"CREATE\""],
    ["all", "SELECT 1 FROM t ANALYZE", "the query contains \"ANALYZE\""],
    ["all", "SELECT 1 FROM t DO", "the query contains \"DO\""],

    ["all", "SELECT * FROM t FOR UPDATE", "the query locks rows (FOR UPDATE)"],
    ["all", "SELECT * FROM t FOR\n  update", "the query locks rows (FOR UPDATE)"],
    ["all", "SELECT * FROM t FOR SHARE", "the query locks rows (FOR SHARE)"],
    ["postgres", "SELECT * FROM t FOR NO KEY UPDATE", "the query locks rows (FOR NO KEY UPDATE)"],
    ["postgres", "SELECT * FROM t FOR KEY SHARE SKIP LOCKED", "the query locks rows (FOR KEY SHARE)"],
    ["postgres", "SELECT * FROM t /* x */ FOR /* y */ UPDATE OF t", "the query locks rows (FOR UPDATE)"],
    ["mysql", "SELECT * FROM t LOCK IN SHARE MODE", "the query locks rows (LOCK IN SHARE MODE)"],
    ["oracle", "SELECT * FROM t FOR UPDATE OF a NOWAIT", "the query locks rows (FOR UPDATE)"],
    ["oracle", "SELECT * FROM t FOR UPDATE SKIP LOCKED", "the query locks rows (FOR UPDATE)"],
    ["mssql", "SELECT * FROM t WITH (UPDLOCK)", "the query locks rows (UPDLOCK)"],
    ["mssql", "SELECT * FROM t WITH (NOLOCK, xlock)", "the query locks rows (XLOCK)"],
    ["mssql", "SELECT * FROM t WITH (HOLDLOCK)", "the query locks rows (HOLDLOCK)"],
    ["mssql", "SELECT * FROM t WITH (TABLOCKX)", "the query locks rows (TABLOCKX)"],
    ["mssql", "SELECT * FROM t WITH (TABLOCK)", "the query locks rows (TABLOCK)"],
    ["mssql", "SELECT * FROM t WITH (PAGLOCK)", "the query locks rows (PAGLOCK)"],
    ["mssql", "SELECT * FROM t WITH (ROWLOCK)", "the query locks rows (ROWLOCK)"],
    ["mssql", "SELECT * FROM t WITH (SERIALIZABLE)", "the query locks rows (SERIALIZABLE)"],
  ];
  for (const [dialects, sql, why] of cases) {
    for (const dialect of expand(dialects)) {
      test(`${dialect}: ${JSON.stringify(sql)}`, () => {
        assert.equal(refusal(sql, dialect), message(why));
      });
    }
  }
});

describe("maskSql", () => {
  const cases: [SqlDialectName, string, string][] = [
    ["sqlite", "a 'x''y' \"q\" -- c\n /* d */ [z] `w` b", "a '    ' \" \"     \n         [ ] ` ` b"],
    ["postgres", "SELECT $$;x$$, $t$y$t$, $1, E'\\'', a$b$", "SELECT $$  $$, $ $ $ $, $1, E'  ', a$b$"],
    ["postgres", "/* a /* b */ c */x", "                 x"],
    ["mysql", "/* a /* b */ c */x", "             c */x"],
    ["mysql", "/*!50001 DELETE */ # c\n'a\\'b' --x -- y", "         DELETE       \n'    ' --x     "],
    ["mssql", "[a]]b] N'c' /* /* */ */", "[    ] N' '            "],
    ["sqlite", "[a]]b]", "[ ]]b]"],
    ["oracle", "q'[it's]' nq'<a>' Q'#b#'", "q'[    ]' nq'< >' Q'# #'"],
    ["postgres", "SELECT 'x\ny'\r\n-- z\r\n/*\n*/1", "SELECT ' \n '\r\n    \r\n  \n  1"],
    ["postgres", "SELECT 'abc", "SELECT '   "],
    ["postgres", "SELECT /* a\nb", "SELECT     \n "],
  ];
  for (const [dialect, sql, masked] of cases) {
    test(`${dialect}: ${JSON.stringify(sql)}`, () => {
      assert.equal(maskSql(sql, dialect), masked);
      assert.equal(maskSql(sql, dialect).length, sql.length);
    });
  }

  test("keeps length and every newline's position on every dialect", () => {
    const sql = "SELECT 'a\nb', \"c\nd\", -- e\n /* f\n g */ $$h\ni$$, q'[j\nk]', [l\nm], `n\no` # p\n FROM t\n";
    for (const dialect of ALL) {
      const masked = maskSql(sql, dialect);
      assert.equal(masked.length, sql.length, dialect);
      for (let k = 0; k < sql.length; k++) assert.equal(masked[k] === "\n", sql[k] === "\n", `${dialect} at ${k}`);
    }
  });
});

describe("splitCte", () => {
  const cases: [SqlDialectName, string, { ctes: string; body: string } | null][] = [
    ["mssql", "SELECT * FROM t", null],
    ["mssql", "(WITH a AS (SELECT 1) SELECT * FROM a)", null],
    ["mssql", "WITH a AS (SELECT 1 AS x) SELECT x FROM a", { ctes: "WITH a AS (SELECT 1 AS x)", body: "SELECT x FROM a" }],
    [
      "mssql",
      "with a (x, y) as (select 1, 2), b as (select (x + (y)) as z from a) select z from b;",
      { ctes: "with a (x, y) as (select 1, 2), b as (select (x + (y)) as z from a)", body: "select z from b" },
    ],
    [
      "mssql",
      "WITH a AS (SELECT ')' AS p, 'SELECT' AS q, [)] FROM t) SELECT * FROM a",
      { ctes: "WITH a AS (SELECT ')' AS p, 'SELECT' AS q, [)] FROM t)", body: "SELECT * FROM a" },
    ],
    [
      "mssql",
      "-- lead\nWITH a AS (SELECT 1 /* ) SELECT */ AS x) -- between\n/* and */ SELECT x FROM a -- trailing",
      { ctes: "WITH a AS (SELECT 1 /* ) SELECT */ AS x)", body: "SELECT x FROM a" },
    ],
    [
      "postgres",
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $$)$$::int) SELECT i FROM n ORDER BY (i)",
      { ctes: "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $$)$$::int)", body: "SELECT i FROM n ORDER BY (i)" },
    ],
    [
      "mysql",
      "WITH RECURSIVE `a(b` AS (SELECT 'it\\')s') SELECT * FROM `a(b`",
      { ctes: "WITH RECURSIVE `a(b` AS (SELECT 'it\\')s')", body: "SELECT * FROM `a(b`" },
    ],
    [
      "mssql",
      "WITH a AS (SELECT 1 AS x) (SELECT x FROM a) UNION (SELECT 2)",
      { ctes: "WITH a AS (SELECT 1 AS x)", body: "(SELECT x FROM a) UNION (SELECT 2)" },
    ],
    ["postgres", "WITH a AS (SELECT 1) TABLE a", null],
  ];
  for (const [dialect, sql, expected] of cases) {
    test(`${dialect}: ${JSON.stringify(sql)}`, () => {
      assert.deepEqual(splitCte(sql, dialect), expected);
    });
  }

  test("hoisting the CTEs keeps a well-formed query", () => {
    const sql = "WITH a AS (SELECT 1 AS x) -- note\nSELECT x FROM a; -- done";
    const { ctes, body } = splitCte(sql, "mssql")!;
    const hoisted = `${ctes}, ferry_q AS (${body}) SELECT TOP 10 * FROM ferry_q`;
    assert.equal(hoisted, "WITH a AS (SELECT 1 AS x), ferry_q AS (SELECT x FROM a) SELECT TOP 10 * FROM ferry_q");
    assert.doesNotThrow(() => assertReadOnlyQuery(hoisted, "mssql", where));
  });
});
