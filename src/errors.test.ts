import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { blamesDestination } from "./destinations/destination.ts";
import {
  blameOf,
  ConfigError,
  type ConfigCode,
  DataError,
  type DataCode,
  ERROR_CODES,
  type ErrorCode,
  type ErrorCodeSpec,
  ExitCode,
  exitCodeFor,
  exitCodeOf,
  FatalError,
  type FatalCode,
  type FerryError,
  needsPerson,
  PermanentError,
  type PermanentCode,
  TransientError,
  type TransientCode,
} from "./errors.ts";

const codes = Object.keys(ERROR_CODES) as ErrorCode[];

/** An error of the code's own class. */
function errorOf(code: ErrorCode): FerryError {
  switch (ERROR_CODES[code].kind) {
    case "config":
      return new ConfigError(code as ConfigCode, "m");
    case "transient":
      return new TransientError(code as TransientCode, "m");
    case "data":
      return new DataError(code as DataCode, "m");
    case "permanent":
      return new PermanentError(code as PermanentCode, "m");
    case "fatal":
      return new FatalError(code as FatalCode, "m");
  }
}

describe("the code table decides what delivery does with an error", () => {
  test("the destination is blamed (its records held, no attempt counted) for exactly the codes that say it is down", () => {
    const down = codes.filter((c) => blamesDestination(errorOf(c)));
    assert.deepEqual(down.sort(), [
      "DEST_CIRCUIT_OPEN",
      "DEST_FILE_FOLDER",
      "DEST_RATE_LIMITED",
      "DEST_SFTP_HOST_KEY_MISMATCH",
      "DEST_TIMEOUT",
      "DEST_UNAUTHORIZED",
      "DEST_UNAVAILABLE",
      "DEST_UNREACHABLE",
    ]);
    assert.deepEqual(codes.filter((c) => blameOf(errorOf(c)) === "destination").sort(), down);
  });

  test("anything thrown that is not a FerryError blames the destination too, and needs no person", () => {
    assert.equal(blamesDestination(new Error("socket hang up")), true);
    assert.equal(blamesDestination("a string"), true);
    assert.equal(blameOf(new Error("x")), undefined);
    assert.equal(needsPerson(new Error("x")), false);
  });

  test("of those, refused credentials, a folder and a host key need a person: a command stops at once", () => {
    const held = codes.filter((c) => blamesDestination(errorOf(c)) && needsPerson(errorOf(c)));
    assert.deepEqual(held.sort(), ["DEST_FILE_FOLDER", "DEST_SFTP_HOST_KEY_MISMATCH", "DEST_UNAUTHORIZED"]);
  });

  test("a 500 or an answer that does not say what became of a record is undecided until delivery splits the batch", () => {
    const undecided = codes.filter((c) => blameOf(errorOf(c)) === "undecided");
    assert.deepEqual(undecided.sort(), ["DEST_SERVER_ERROR", "DEST_UNCONFIRMED"]);
    for (const code of undecided) assert.equal(blamesDestination(errorOf(code)), false, code);
    assert.equal(blameOf(errorOf("DEST_RECORD_FAILED")), "record");
  });

  test("a record's own failure is not the destination's", () => {
    for (const code of ["DEST_REJECTED", "DEST_NO_RESULT", "DEST_RECORD_BUSY", "DEST_SFTP_INCOMPLETE", "DATA_BAD_VALUE"] as const) {
      assert.equal(blamesDestination(errorOf(code)), false, code);
      assert.equal(blameOf(errorOf(code)), "record", code);
    }
  });

  test("an error's class is its code's", () => {
    for (const code of codes) {
      const error = errorOf(code);
      assert.equal(error.kind, ERROR_CODES[code].kind, code);
      assert.equal(error.code, code);
    }
    assert.equal(new TransientError("DEST_UNAVAILABLE", "m").kind, "transient");
    assert.equal(new ConfigError("CONFIG_INVALID", "m", { file: "ferry.yaml", line: 3 }).message, "ferry.yaml:3: m");
  });
});

describe("exit codes", () => {
  test("a command stopped by an error exits by the error's class", () => {
    assert.equal(exitCodeFor(new ConfigError("CONFIG_UNKNOWN_JOB", "m")), ExitCode.config);
    assert.equal(exitCodeFor(new TransientError("SOURCE_UNAVAILABLE", "m")), ExitCode.unavailable);
    assert.equal(exitCodeFor(new FatalError("MASS_DELETE_REFUSED", "m")), ExitCode.refused);
    assert.equal(exitCodeFor(new PermanentError("DEST_UNAUTHORIZED", "m")), ExitCode.credentials);
    assert.equal(exitCodeFor(new DataError("DATA_BAD_VALUE", "m")), ExitCode.refused);
    assert.equal(exitCodeFor(new Error("bug")), ExitCode.internal);
  });

  test("a job running in another process is exit 6, its code's own; only refused credentials (5) have another", () => {
    assert.equal(exitCodeFor(new TransientError("RUN_LEASE_HELD", "m")), 6);
    assert.equal(ExitCode.running, 6);
    assert.equal(exitCodeOf({ status: "failed", error: new TransientError("RUN_LEASE_HELD", "m") }), ExitCode.running);
    const own = codes.filter((c) => (ERROR_CODES[c] as ErrorCodeSpec).exit !== undefined);
    assert.deepEqual(own.sort(), ["DEST_UNAUTHORIZED", "RUN_LEASE_HELD"]);
    assert.equal(exitCodeFor(new TransientError("RUN_LEASE_LOST", "m")), ExitCode.unavailable);
  });

  test("a run exits by its status, a failed run by its error, and then by its delivery", () => {
    assert.equal(exitCodeOf({ status: "succeeded" }), ExitCode.ok);
    assert.equal(exitCodeOf({ status: "partial" }), ExitCode.partial);
    assert.equal(exitCodeOf({ status: "refused", error: new FatalError("MASS_DELETE_REFUSED", "m") }), ExitCode.refused);
    assert.equal(exitCodeOf({ status: "failed", error: new ConfigError("CONFIG_MISSING_COLUMN", "m") }), ExitCode.config);
    assert.equal(exitCodeOf({ status: "failed", error: new TransientError("RUN_INTERRUPTED", "m") }), ExitCode.unavailable);
    assert.equal(exitCodeOf({ status: "failed", error: new FatalError("SOURCE_CSV_UNPARSABLE", "m") }), ExitCode.refused);
    const down = { error: "DEST_UNAVAILABLE: down", dead: 0 };
    const dead = { dead: 2 };
    assert.equal(exitCodeOf({ status: "succeeded", delivery: [dead] }), ExitCode.partial);
    assert.equal(exitCodeOf({ status: "partial", delivery: [dead, down] }), ExitCode.unavailable);
    assert.equal(exitCodeOf({ delivery: [] }), ExitCode.ok);
    assert.equal(exitCodeOf({ delivery: [{ dead: 0 }, dead] }), ExitCode.partial);
  });

  test("a file source's run exits with the worst of its files' own runs and its delivery", () => {
    const changed = { status: "failed" as const, error: new TransientError("SOURCE_FILE_CHANGED", "m") };
    const unparsable = { status: "failed" as const, error: new FatalError("SOURCE_CSV_UNPARSABLE", "m") };
    // The run's own error is its first file's: the files' say weighs too.
    const run = { ...changed, delivery: [{ dead: 1 }] };
    assert.equal(exitCodeOf({ ...run, files: [changed, unparsable] }), ExitCode.refused);
    assert.equal(exitCodeOf({ ...run, files: [changed, { status: "succeeded" }] }), ExitCode.unavailable);
    assert.equal(exitCodeOf({ status: "partial", delivery: [{ dead: 0 }], files: [{ status: "succeeded" }, { status: "partial" }, {}] }), ExitCode.partial);
    assert.equal(exitCodeOf({ status: "succeeded", files: [] }), ExitCode.ok);
    assert.equal(exitCodeOf({ status: "failed", error: new Error("bug"), files: [unparsable] }), ExitCode.internal);
  });

  test("credentials a destination refuses have an exit code of their own, 5, over a destination down", () => {
    assert.equal(ExitCode.credentials, 5);
    const refused = { error: "hubspot refused the credentials", errorCode: "DEST_UNAUTHORIZED" as const, dead: 0 };
    const down = { error: "DEST_UNAVAILABLE: down", errorCode: "DEST_UNAVAILABLE" as const, dead: 0 };
    assert.equal(exitCodeOf({ delivery: [refused] }), ExitCode.credentials);
    assert.equal(exitCodeOf({ status: "succeeded", delivery: [down, refused] }), ExitCode.credentials);
    assert.equal(exitCodeOf({ delivery: [down] }), ExitCode.unavailable);
  });

  test("records still pending when a delivery ends never exit 0", () => {
    assert.equal(exitCodeOf({ delivery: [{ dead: 0, pending: 3 }] }), ExitCode.unavailable);
    assert.equal(exitCodeOf({ status: "succeeded", delivery: [{ dead: 0, pending: 0 }] }), ExitCode.ok);
  });
});
