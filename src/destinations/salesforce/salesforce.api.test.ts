import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PermanentError, TransientError } from "../../errors.ts";
import { apiMessage, recordError, soqlString } from "./salesforce.api.ts";

describe("Salesforce api", () => {
  it("escapes quotes and backslashes in a SOQL string literal", () => {
    assert.equal(soqlString("O'Brien \\ co"), "'O\\'Brien \\\\ co'");
  });

  it("reads Salesforce's error code and message from an error answer", () => {
    assert.equal(apiMessage([{ errorCode: "REQUEST_LIMIT_EXCEEDED", message: "TotalRequests Limit exceeded." }]),
      "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.");
    assert.equal(apiMessage({ message: "not a list" }), undefined);
  });

  it("makes a busy record transient and a refused one permanent, naming the record and fields", () => {
    const busy = recordError({ success: false, errors: [{ statusCode: "UNABLE_TO_LOCK_ROW", message: "locked" }] }, "Contact", "c-1");
    assert.ok(busy instanceof TransientError);
    assert.equal(busy.code, "DEST_RECORD_BUSY");
    const refused = recordError(
      { success: false, errors: [{ statusCode: "REQUIRED_FIELD_MISSING", message: "Required fields are missing", fields: ["LastName"] }] },
      "Contact",
      "c-2",
    );
    assert.ok(refused instanceof PermanentError);
    assert.equal(refused.message, "Salesforce refused Contact c-2: REQUIRED_FIELD_MISSING: Required fields are missing (fields: LastName)");
  });
});
