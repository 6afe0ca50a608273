import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError } from "../../errors.ts";
import { queryError } from "./sql.client.ts";

const coded = (message: string, code: string) => Object.assign(new Error(message), { code });

describe("driver errors", () => {
  test("a server that does not offer TLS under tls.mode verify: says so and how to set tls.mode", () => {
    const refusals = {
      postgres: new Error("The server does not support SSL connections"),
      mysql: coded("Server does not support secure connection", "HANDSHAKE_NO_SSL_SUPPORT"),
      mssql: coded(
        "Server did not negotiate encryption, but the 'encrypt' config option is set to `true`. Set 'encrypt' to `false` to allow unencrypted connections.",
        "EENCRYPT",
      ),
    };
    for (const [dialect, e] of Object.entries(refusals)) {
      const error = queryError(e, "erp", dialect);
      assert.ok(error instanceof ConfigError, dialect);
      assert.equal(error.code, "SOURCE_SQL_TLS_UNAVAILABLE", dialect);
      assert.match(error.message, /^database erp \(\w+\) does not offer TLS/, dialect);
      assert.match(error.message, /set tls\.mode: disable on connections\.erp in ferry\.yaml/, dialect);
      assert.doesNotMatch(error.message, /Check the job's query/, dialect);
    }
  });

  test("a SQL Server that requires TLS under tls.mode disable: says to remove it", () => {
    const error = queryError(coded("Server requires encryption, set 'encrypt' config option to `true`.", "EENCRYPT"), "erp", "mssql");
    assert.equal(error.code, "SOURCE_SQL_TLS_UNAVAILABLE");
    assert.match(error.message, /^database erp \(mssql\) requires TLS: .* Remove tls\.mode: disable from connections\.erp/);
  });

  test("a broken query is still the job's to fix", () => {
    const error = queryError(coded("syntax error at or near \"FORM\"", "42601"), "erp", "postgres");
    assert.equal(error.code, "SOURCE_SQL_QUERY_FAILED");
  });
});
