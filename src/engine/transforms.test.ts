import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DataError } from "../errors.ts";
import {
  compileTransform,
  datePattern,
  isCombiner,
  TRANSFORM_NAMES,
  type TransformSpec,
} from "./transforms.ts";

/** Runs `steps` over the given columns (one column unless several are given). */
const run = (steps: TransformSpec[], ...columns: unknown[]) =>
  compileTransform(steps, columns.length)(columns);

describe("single-value transforms", () => {
  test("no steps passes the one column through untouched", () => {
    assert.equal(run([], " Ada "), " Ada ");
    assert.equal(run([], 5), 5);
    assert.equal(run([], null), null);
  });

  test("trim", () => {
    assert.equal(run(["trim"], " \t Ada \n"), "Ada");
    assert.equal(run(["trim"], 5), 5);
    assert.equal(run(["trim"], null), null);
  });

  test("lower and upper", () => {
    assert.equal(run(["lower"], "ÄdA"), "äda");
    assert.equal(run(["upper"], "straße"), "STRASSE");
    assert.equal(run(["upper"], 5), 5);
    assert.equal(run(["lower"], null), null);
  });

  test("collapse_spaces trims and folds every run of white space into one space", () => {
    assert.equal(run(["collapse_spaces"], "  a \t b\n\n c  "), "a b c");
    assert.equal(run(["collapse_spaces"], 7), 7);
  });

  test("digits keeps only digits; nothing left is null", () => {
    assert.equal(run(["digits"], "+49 (0)30-123"), "49030123");
    assert.equal(run(["digits"], 12.5), "125");
    assert.equal(run(["digits"], "n/a"), null);
    assert.equal(run(["digits"], ""), null);
    assert.equal(run(["digits"], null), null);
  });

  test("null_if_empty turns blank text into null and leaves the rest", () => {
    assert.equal(run(["null_if_empty"], "   "), null);
    assert.equal(run(["null_if_empty"], ""), null);
    assert.equal(run(["null_if_empty"], " a "), " a ");
    assert.equal(run(["null_if_empty"], 0), 0);
  });

  test("steps apply in order", () => {
    assert.equal(run(["trim", "lower", { lookup: { x: "X!" } }], "  X "), "X!");
    assert.equal(run([{ lookup: { x: "X!" } }, "trim", "lower"], "  X "), "x");
    assert.equal(run(["null_if_empty", { default: "none" }], "  "), "none");
    assert.equal(run(["digits", { default: "0" }], "n/a"), "0");
  });
});

describe("combiners", () => {
  test("join_space trims each column and skips empty ones", () => {
    assert.equal(run(["join_space"], " Ada ", null, "", "  ", "Lovelace"), "Ada Lovelace");
    assert.equal(run(["join_space"], "Ada", 36), "Ada 36");
  });
  test("join_comma", () => {
    assert.equal(run(["join_comma"], "Main St 1", undefined, " Springfield "), "Main St 1, Springfield");
  });
  test("joining only empty columns is null", () => {
    assert.equal(run(["join_space"], null, "", "  "), null);
    assert.equal(run(["join_comma"], null, undefined), null);
  });
  test("coalesce takes the first non-blank column, untrimmed", () => {
    assert.equal(run(["coalesce"], null, "", " ", " x ", "y"), " x ");
    assert.equal(run(["coalesce"], null, 0), "0");
    assert.equal(run(["coalesce"], null, ""), null);
  });
  test("a combiner on one column works too", () => {
    assert.equal(run(["join_space"], " a "), "a");
  });
  test("steps after a combiner apply to the combined value", () => {
    assert.equal(run(["join_space", "upper"], "ada", "lovelace"), "ADA LOVELACE");
    assert.equal(run(["coalesce", "trim", { default: "?" }], null, "  "), "?");
  });
  test("isCombiner", () => {
    assert.deepEqual(
      TRANSFORM_NAMES.filter((n) => isCombiner(n)),
      ["join_space", "join_comma", "coalesce"],
    );
    assert.equal(isCombiner({ default: "join_space" }), false);
  });
});

describe("structural errors", () => {
  test("several columns without a combiner first", () => {
    const message = "several columns need a combiner first: join_space, join_comma or coalesce";
    assert.throws(() => compileTransform([], 2), { message });
    assert.throws(() => compileTransform(["trim", "join_space"], 2), { message });
  });
  test("a combiner after the first step", () => {
    assert.throws(() => compileTransform(["join_space", "join_comma"], 2), {
      message: "join_comma combines columns and cannot be applied to one value",
    });
    assert.throws(() => compileTransform(["trim", "coalesce"], 1), {
      message: "coalesce combines columns and cannot be applied to one value",
    });
  });
  test("a date pattern without year, month and day", () => {
    assert.throws(() => compileTransform([{ date: "DD.MM" }], 1), {
      message: "date pattern \"DD.MM\" must contain a year, a month and a day (YYYY, MM, DD)",
    });
  });
});

describe("{ date: pattern }", () => {
  test("DD.MM.YYYY", () => {
    assert.equal(run([{ date: "DD.MM.YYYY" }], "31.12.2023"), "2023-12-31");
    assert.equal(run([{ date: "DD.MM.YYYY" }], " 01.02.2024 "), "2024-02-01");
  });
  test("MM/DD/YY: two-digit years below 70 are 20xx, from 70 on 19xx", () => {
    assert.equal(run([{ date: "MM/DD/YY" }], "12/31/69"), "2069-12-31");
    assert.equal(run([{ date: "MM/DD/YY" }], "01/02/70"), "1970-01-02");
    assert.equal(run([{ date: "MM/DD/YY" }], "07/04/00"), "2000-07-04");
  });
  test("single-letter tokens take one or two digits and are zero-padded", () => {
    assert.equal(run([{ date: "D.M.YYYY" }], "1.2.2023"), "2023-02-01");
    assert.equal(run([{ date: "D.M.YYYY" }], "11.12.2023"), "2023-12-11");
  });
  test("patterns without separators", () => {
    assert.equal(run([{ date: "YYYYMMDD" }], "20240131"), "2024-01-31");
    assert.equal(run([{ date: "YYYYMMDD" }], 20240131), "2024-01-31");
  });
  test("regex characters in the pattern are literal", () => {
    assert.throws(() => run([{ date: "DD.MM.YYYY" }], "31x12x2023"), DataError);
    assert.equal(run([{ date: "(YYYY)[MM]+DD" }], "(2024)[05]+06"), "2024-05-06");
  });
  test("empty input is null", () => {
    assert.equal(run([{ date: "DD.MM.YYYY" }], "  "), null);
    assert.equal(run([{ date: "DD.MM.YYYY" }], null), null);
  });
  test("a value that does not match is a DATA_BAD_DATE naming the pattern", () => {
    assert.throws(
      () => run([{ date: "DD.MM.YYYY" }], "31/12/2023"),
      (e: unknown) => {
        assert.ok(e instanceof DataError);
        assert.equal(e.code, "DATA_BAD_DATE");
        assert.equal(e.message, "\"31/12/2023\" does not match the date pattern DD.MM.YYYY");
        return true;
      },
    );
    assert.throws(() => run([{ date: "DD.MM.YYYY" }], "1.12.2023"), {
      message: "\"1.12.2023\" does not match the date pattern DD.MM.YYYY",
    });
  });
  test("only the layout is checked: the calendar is the date type's job", () => {
    // 30.02 matches the pattern; converting the result to `date` rejects it (see values.test.ts).
    assert.equal(datePattern("DD.MM.YYYY")("30.02.2023"), "2023-02-30");
  });
});

describe("{ lookup } and { default }", () => {
  test("lookup replaces known values, by their text", () => {
    const steps: TransformSpec[] = [{ lookup: { A: "active", I: "inactive", 1: "one" } }];
    assert.equal(run(steps, "A"), "active");
    assert.equal(run(steps, "I"), "inactive");
    assert.equal(run(steps, 1), "one");
  });
  test("lookup passes unknown values and empty ones", () => {
    const steps: TransformSpec[] = [{ lookup: { A: "active", "": "blank" } }];
    assert.equal(run(steps, "Z"), "Z");
    assert.equal(run(steps, "a"), "a");
    assert.equal(run(steps, ""), "");
    assert.equal(run(steps, null), null);
  });
  test("lookup does not use inherited object keys", () => {
    assert.equal(run([{ lookup: { A: "active" } }], "toString"), "toString");
  });
  test("default fills null, undefined and empty text but not blank text", () => {
    assert.equal(run([{ default: "n/a" }], ""), "n/a");
    assert.equal(run([{ default: "n/a" }], null), "n/a");
    assert.equal(run([{ default: "n/a" }], undefined), "n/a");
    assert.equal(run([{ default: "n/a" }], " "), " ");
    assert.equal(run([{ default: "n/a" }], 0), 0);
  });
});
