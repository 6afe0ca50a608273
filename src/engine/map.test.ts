import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { MappingConfig } from "../config/mapping.schema.ts";
import { DataError } from "../errors.ts";
import { compileMapping, type MapResult } from "./map.ts";

const mapping: MappingConfig = {
  entity: "customer",
  key: "customer_no",
  fields: {
    customer_no: { type: "string", required: false },
    name: { type: "string", required: true, rule: { owner: "erp" } },
    email: { type: "email", required: false, rule: { priority: ["crm", "erp"] } },
    credit_limit: { type: "decimal", required: false, rule: { owner: "erp" } },
    since: { type: "date", required: false },
    active: { type: "boolean", required: false },
    phone: { type: "string", required: false, rule: "flag" },
    code: { type: "integer", required: false },
  },
  sources: {
    erp: {
      credit_limit: "CREDIT",
      name: { from: ["FIRST_NM", "LAST_NM"], transform: "join_space" },
      customer_no: "CUST_ID",
      email: { from: "MAIL", transform: ["trim", "null_if_empty"] },
      since: { from: "SINCE", transform: { date: "DD.MM.YYYY" } },
      active: { from: "STATUS", transform: [{ lookup: { A: "yes", I: "no" } }, { default: "no" }] },
      phone: { from: ["PHONE", "MOBILE"], transform: ["coalesce", "digits"] },
    },
    crm: {
      customer_no: { from: "Customer #", transform: ["trim", "upper"] },
      email: "Email",
      code: "Code",
    },
  },
  destinations: {},
};

const erpRow = {
  CUST_ID: "C-001",
  FIRST_NM: " Ada ",
  LAST_NM: "Lovelace",
  MAIL: "  Ada@Example.com ",
  CREDIT: "1500.00",
  SINCE: "01.02.2023",
  STATUS: "A",
  PHONE: null,
  MOBILE: "+49 170 123",
  UNUSED: "ignored",
};

function failure(result: MapResult): DataError {
  assert.equal(result.ok, false, "expected the row to be rejected");
  if (result.ok) throw new Error("unreachable");
  assert.ok(result.error instanceof DataError);
  return result.error;
}

describe("compileMapping", () => {
  const erp = compileMapping(mapping, "erp");
  const crm = compileMapping(mapping, "crm");

  test("describes the source: fields key first, columns in field order, the key column", () => {
    assert.equal(erp.entity, "customer");
    assert.equal(erp.keyField, "customer_no");
    assert.deepEqual(erp.fields, [
      "customer_no",
      "credit_limit",
      "name",
      "email",
      "since",
      "active",
      "phone",
    ]);
    assert.deepEqual(erp.columns, [
      "CUST_ID",
      "CREDIT",
      "FIRST_NM",
      "LAST_NM",
      "MAIL",
      "SINCE",
      "STATUS",
      "PHONE",
      "MOBILE",
    ]);
    assert.equal(erp.keyColumn, "CUST_ID");
  });

  test("keyColumn is null when the key is transformed or built from several columns", () => {
    assert.equal(crm.keyColumn, null);
    const multi = compileMapping(
      {
        ...mapping,
        sources: { erp: { customer_no: { from: ["A", "B"], transform: "join_comma" }, name: "N" } },
      },
      "erp",
    );
    assert.equal(multi.keyColumn, null);
    const listed = compileMapping({ ...mapping, sources: { erp: { customer_no: { from: ["A"] } } } }, "erp");
    assert.equal(listed.keyColumn, "A");
  });

  test("maps a row: one column, multi-column join, chained transforms, conversion", () => {
    assert.deepEqual(erp.map(erpRow), {
      ok: true,
      key: "C-001",
      values: {
        customer_no: "C-001",
        credit_limit: "1500",
        name: "Ada Lovelace",
        email: "ada@example.com",
        since: "2023-02-01",
        active: true,
        phone: "49170123",
      },
    });
  });

  test("empty optional fields become null; transforms with defaults fill in", () => {
    const result = erp.map({ CUST_ID: "C-002", FIRST_NM: "Bob", MAIL: "   ", STATUS: "" });
    assert.deepEqual(result, {
      ok: true,
      key: "C-002",
      values: {
        customer_no: "C-002",
        credit_limit: null,
        name: "Bob",
        email: null,
        since: null,
        active: false,
        phone: null,
      },
    });
  });

  test("the key is transformed and a non-string key is made text", () => {
    assert.deepEqual(crm.map({ "Customer #": "  c-003 ", Email: "X@Y.Z", Code: "42" }), {
      ok: true,
      key: "C-003",
      values: { customer_no: "C-003", email: "x@y.z", code: 42 },
    });
    const numeric = compileMapping(
      {
        ...mapping,
        fields: { ...mapping.fields, customer_no: { type: "integer", required: false } },
        sources: { erp: { customer_no: "ID" } },
      },
      "erp",
    );
    assert.deepEqual(numeric.map({ ID: 17n }), { ok: true, key: "17", values: { customer_no: 17 } });
  });

  test("an empty key is DATA_KEY_MISSING", () => {
    for (const id of [null, undefined, ""]) {
      const error = failure(erp.map({ ...erpRow, CUST_ID: id }));
      assert.equal(error.code, "DATA_KEY_MISSING");
      assert.equal(error.message, "customer_no (CUST_ID) is empty; it is the key");
    }
    const error = failure(crm.map({ "Customer #": "   " }));
    assert.equal(error.code, "DATA_KEY_MISSING");
    // Blank text is not empty for the string type: trim makes it "" which converts to null.
    assert.equal(error.message, "customer_no (Customer #) is empty; it is the key");
  });

  test("an empty required field is DATA_REQUIRED_MISSING naming field and columns", () => {
    const error = failure(erp.map({ ...erpRow, FIRST_NM: " ", LAST_NM: null }));
    assert.equal(error.code, "DATA_REQUIRED_MISSING");
    assert.equal(error.message, "name (FIRST_NM, LAST_NM) is empty; it is a required field");
  });

  test("a bad value names the field and the column and says what was expected", () => {
    const error = failure(erp.map({ ...erpRow, CREDIT: "1,500" }));
    assert.equal(error.code, "DATA_BAD_VALUE");
    assert.equal(
      error.message,
      "credit_limit (CREDIT): expected a decimal number such as 1234.50, got \"1,500\"",
    );
    assert.ok(error.cause instanceof DataError);

    const email = failure(erp.map({ ...erpRow, MAIL: "ada at example" }));
    assert.equal(email.message, "email (MAIL): expected an email address, got \"ada at example\"");
  });

  test("a transform's own error keeps its code", () => {
    const error = failure(erp.map({ ...erpRow, SINCE: "2023-02-01" }));
    assert.equal(error.code, "DATA_BAD_DATE");
    assert.equal(error.message, "since (SINCE): \"2023-02-01\" does not match the date pattern DD.MM.YYYY");
  });

  test("a date that matches the pattern but does not exist is refused", () => {
    const error = failure(erp.map({ ...erpRow, SINCE: "30.02.2023" }));
    assert.equal(error.code, "DATA_BAD_VALUE");
    assert.equal(
      error.message,
      "since (SINCE): expected a date YYYY-MM-DD, got \"2023-02-30\" (add a transform such as { date: DD.MM.YYYY } for other layouts)",
    );
  });

  test("the first failing field, in field order, is the one reported", () => {
    const error = failure(erp.map({ ...erpRow, CREDIT: "x", MAIL: "y" }));
    assert.match(error.message, /^credit_limit \(CREDIT\): /);
  });

  test("keyOf gives the key map would give, and null where map rejects the row for its key", () => {
    const mapped = erp.map(erpRow);
    assert.ok(mapped.ok);
    assert.equal(erp.keyOf(erpRow), mapped.key);
    assert.equal(crm.keyOf({ "Customer #": " c-9 ", Email: "x@y.z" }), "C-9");
    assert.equal(erp.keyOf({ ...erpRow, CUST_ID: null }), null);
    assert.equal(erp.map({ ...erpRow, CUST_ID: null }).ok, false);
    const numeric = compileMapping({ ...mapping, key: "code", sources: { erp: { code: "Code" } } }, "erp");
    assert.equal(numeric.keyOf({ Code: "12" }), "12");
    assert.equal(numeric.keyOf({ Code: "twelve" }), null, "a key that fails to convert");
    // A row rejected for another field still has a key.
    assert.equal(erp.keyOf({ ...erpRow, CREDIT: "x" }), "C-001");
  });

  test("the signature changes with what decides the mapped values, and only with that", () => {
    assert.equal(compileMapping(mapping, "erp").signature, erp.signature, "the same mapping signs alike");
    assert.notEqual(erp.signature, crm.signature);
    const withFields = (fields: Partial<MappingConfig["fields"]>, sources = mapping.sources) =>
      compileMapping({ ...mapping, fields: { ...mapping.fields, ...fields } as MappingConfig["fields"], sources }, "erp")
        .signature;
    assert.notEqual(withFields({ credit_limit: { type: "integer", required: false } }), erp.signature, "a type");
    assert.notEqual(withFields({ credit_limit: { type: "decimal", required: true } }), erp.signature, "required");
    assert.notEqual(
      withFields({}, { ...mapping.sources, erp: { ...mapping.sources.erp!, email: { from: "MAIL", transform: "trim" } } }),
      erp.signature,
      "a transform",
    );
    assert.equal(
      withFields({ credit_limit: { type: "decimal", required: false, rule: { owner: "crm" } } }),
      erp.signature,
      "a survivorship rule does not change what a row maps to",
    );
    assert.equal(withFields({ code: { type: "string", required: false } }), erp.signature, "another source's field");
  });

  test("structural errors are thrown at compile time", () => {
    assert.throws(() => compileMapping(mapping, "nope"), {
      message: "mapping customer has no source named \"nope\"",
    });
    assert.throws(
      () => compileMapping({ ...mapping, sources: { erp: { customer_no: { from: ["A", "B"] } } } }, "erp"),
      { message: "several columns need a combiner first: join_space, join_comma or coalesce" },
    );
  });
});
