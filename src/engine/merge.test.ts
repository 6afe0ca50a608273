import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { MappingConfig } from "../config/mapping.schema.ts";
import { changedFields } from "./diff.ts";
import {
  type MergeInput,
  type MergeResult,
  type MergeRules,
  merge,
  mergeRules,
  resolveField,
  withdraw,
} from "./merge.ts";
import type {
  ConflictChange,
  GoldenField,
  GoldenRecord,
  Observation,
  OpenConflict,
  Value,
  Values,
} from "./types.ts";
import { isEmptyValue } from "./values.ts";

const rules: MergeRules = {
  key: "id",
  rules: {
    name: { kind: "owner", owner: "erp" },
    email: { kind: "priority", order: ["crm", "erp", "web"] },
    segment: { kind: "latest" },
    phone: { kind: "flag" },
  },
};

const T0 = "2024-01-01T00:00:00.000Z";
const T1 = "2024-01-02T00:00:00.000Z";
const T2 = "2024-01-03T00:00:00.000Z";
const T3 = "2024-01-04T00:00:00.000Z";

function obs(
  source: string,
  values: Values,
  opts: { sourceTime?: string | null; observedAt?: string; run?: string } = {},
): Observation {
  return {
    source,
    values: { id: "K1", ...values },
    sourceTime: opts.sourceTime ?? null,
    observedAt: opts.observedAt ?? T1,
    run: opts.run ?? "r1",
  };
}

/** The golden field `o` would give `field` under `rule`. */
function from(o: Observation, field: string, rule: GoldenField["rule"]): GoldenField {
  return {
    value: o.values[field]!,
    source: o.source,
    run: o.run,
    at: o.observedAt,
    sourceTime: o.sourceTime,
    rule,
  };
}

function run(
  incoming: Observation,
  opts: {
    current?: GoldenRecord;
    changed?: string[];
    others?: Observation[];
    openConflicts?: OpenConflict[];
    rules?: MergeRules;
  } = {},
): MergeResult {
  return merge({
    rules: opts.rules ?? rules,
    entity: "customer",
    key: "K1",
    current: opts.current,
    holders: [incoming, ...(opts.others ?? []).filter((o) => o.source !== incoming.source)],
    openConflicts: opts.openConflicts ?? [],
  });
}

/** A golden record built by merging the observations one after the other, each seeing the ones before. */
function build(...observations: Observation[]): GoldenRecord {
  let current: GoldenRecord | undefined;
  const seen: Observation[] = [];
  for (const o of observations) {
    current = run(o, { current, others: seen.filter((s) => s.source !== o.source) }).record;
    seen.push(o);
  }
  return current!;
}

describe("mergeRules", () => {
  test("reads each field's rule from the mapping; no rule is latest", () => {
    const mapping: MappingConfig = {
      entity: "customer",
      key: "id",
      fields: {
        id: { type: "string", required: false },
        a: { type: "string", required: false },
        b: { type: "string", required: false, rule: "latest" },
        c: { type: "string", required: false, rule: "flag" },
        d: { type: "string", required: false, rule: { owner: "erp" } },
        e: { type: "string", required: false, rule: { priority: ["crm", "erp"] } },
      },
      sources: {},
      destinations: {},
    };
    assert.deepEqual(mergeRules(mapping), {
      key: "id",
      rules: {
        id: { kind: "latest" },
        a: { kind: "latest" },
        b: { kind: "latest" },
        c: { kind: "flag" },
        d: { kind: "owner", owner: "erp" },
        e: { kind: "priority", order: ["crm", "erp"] },
      },
    });
  });
});

describe("a new record", () => {
  test("takes every field the first source gives, at version 1", () => {
    const erp = obs(
      "erp",
      { name: "Ada", email: "a@x.io", segment: "B2B", phone: "1", note: "n" },
      { sourceTime: T0 },
    );
    const result = run(erp);
    assert.deepEqual(result, {
      record: {
        entity: "customer",
        key: "K1",
        version: 1,
        status: "active",
        fields: {
          id: from(erp, "id", "key"),
          name: from(erp, "name", "owner"),
          email: from(erp, "email", "priority"),
          segment: from(erp, "segment", "latest"),
          phone: from(erp, "phone", "flag"),
          note: from(erp, "note", "latest"),
        },
      },
      changed: ["id", "name", "email", "segment", "phone", "note"],
      touched: true,
      conflicts: [],
    });
  });

  test("only the fields the source gives a value are in the record: an empty field is absent", () => {
    const result = run(obs("erp", { name: "Ada", segment: "B2B", phone: null, note: "" }));
    assert.deepEqual(Object.keys(result.record.fields), ["id", "name", "segment"]);
    assert.deepEqual(result.changed, ["id", "name", "segment"]);
  });
});

describe("key", () => {
  test("the key field takes the key rule, whatever rule the mapping names", () => {
    const r = { key: "id", rules: { id: { kind: "owner", owner: "erp" } as const } };
    const result = run(obs("crm", { id: "K1" }), { rules: r });
    assert.equal(result.record.fields.id?.rule, "key");
    assert.equal(result.record.fields.id?.value, "K1");
  });

  test("a second source's first observation leaves the key, its provenance and the version alone", () => {
    const erp = obs("erp", { name: "Ada" });
    const current = build(erp);
    const crm = obs("crm", {}, { observedAt: T2, run: "r2" });
    const result = run(crm, { current, others: [erp] });
    assert.deepEqual(result.record.fields.id, from(erp, "id", "key"));
    assert.deepEqual(result.changed, []);
    assert.equal(result.touched, false);
    assert.equal(result.record.version, 1);
  });
});

describe("owner", () => {
  test("the owner's change applies", () => {
    const current = build(obs("erp", { name: "Ada" }));
    const erp2 = obs("erp", { name: "Ada L." }, { observedAt: T2, run: "r2" });
    const result = run(erp2, { current, changed: ["name"] });
    assert.deepEqual(result.record.fields.name, from(erp2, "name", "owner"));
    assert.deepEqual(result.changed, ["name"]);
    assert.equal(result.record.version, 2);
    assert.equal(result.touched, true);
  });

  test("another source's value is not applied, even when newer", () => {
    const erp = obs("erp", { name: "Ada" }, { sourceTime: T0 });
    const current = build(erp);
    const result = run(obs("crm", { name: "Bob" }, { sourceTime: T3, observedAt: T3 }), {
      current,
      changed: ["name"],
      others: [erp],
    });
    assert.deepEqual(result.record, current);
    assert.deepEqual(result.changed, []);
    assert.equal(result.touched, false);
  });

  test("a field no owner has given yet stays absent", () => {
    const result = run(obs("crm", { name: "Bob" }));
    assert.equal(result.record.fields.name, undefined);
    assert.deepEqual(result.changed, ["id"]);
  });

  test("the owner clearing its value clears the field", () => {
    const current = build(obs("erp", { name: "Ada" }));
    const result = run(obs("erp", { name: null }, { observedAt: T2 }), { current, changed: ["name"] });
    assert.equal(result.record.fields.name, undefined);
    assert.deepEqual(result.changed, ["name"]);
  });

  test("the same value with a new source time updates provenance, not the version", () => {
    const current = build(obs("erp", { name: "Ada" }, { sourceTime: T0 }));
    const erp2 = obs("erp", { name: "Ada" }, { sourceTime: T2, observedAt: T2, run: "r2" });
    const result = run(erp2, { current, changed: ["name"] });
    assert.deepEqual(result.record.fields.name, from(erp2, "name", "owner"));
    assert.deepEqual(result.changed, []);
    assert.equal(result.touched, true);
    assert.equal(result.record.version, 1);
  });
});

describe("priority [crm, erp, web]", () => {
  test("a lone lower-ranked source fills the field", () => {
    const result = run(obs("erp", { email: "erp@x.io" }));
    assert.equal(result.record.fields.email?.value, "erp@x.io");
    assert.equal(result.record.fields.email?.source, "erp");
  });

  test("a higher-ranked non-empty value wins", () => {
    const erp = obs("erp", { email: "erp@x.io" });
    const current = build(erp);
    const crm = obs("crm", { email: "crm@x.io" }, { observedAt: T2, run: "r2" });
    const result = run(crm, { current, others: [erp] });
    assert.deepEqual(result.record.fields.email, from(crm, "email", "priority"));
    assert.deepEqual(result.changed, ["email"]);
    assert.equal(result.record.version, 2);
  });

  test("a lower-ranked source cannot override, even when newer", () => {
    const crm = obs("crm", { email: "crm@x.io" });
    const erp = obs("erp", { email: "erp@x.io" });
    const current = build(crm, erp);
    assert.equal(current.fields.email?.source, "crm");
    const erp2 = obs("erp", { email: "erp2@x.io" }, { sourceTime: T3, observedAt: T3 });
    const result = run(erp2, { current, changed: ["email"], others: [crm] });
    assert.deepEqual(result.record, current);
    assert.deepEqual(result.changed, []);
    assert.equal(result.touched, false);
  });

  test("a higher source clearing its value hands the field to the next one", () => {
    const erp = obs("erp", { email: "erp@x.io" });
    const web = obs("web", { email: "web@x.io" });
    const crm = obs("crm", { email: "crm@x.io" });
    const current = build(web, erp, crm);
    assert.equal(current.fields.email?.value, "crm@x.io");

    const cleared = obs("crm", { email: "" }, { observedAt: T2 });
    const result = run(cleared, { current, changed: ["email"], others: [erp, web] });
    assert.deepEqual(result.record.fields.email, from(erp, "email", "priority"));
    assert.deepEqual(result.changed, ["email"]);

    // Then erp clears too: web is next.
    const erpCleared = obs("erp", { email: null }, { observedAt: T3 });
    const next = run(erpCleared, { current: result.record, changed: ["email"], others: [cleared, web] });
    assert.deepEqual(next.record.fields.email, from(web, "email", "priority"));
  });

  test("the incoming source's own older observation among the others is ignored", () => {
    const erp = obs("erp", { email: "erp@x.io" });
    const crm = obs("crm", { email: "crm@x.io" });
    const current = build(erp, crm);
    const cleared = obs("crm", { email: null }, { observedAt: T2 });
    const result = run(cleared, { current, changed: ["email"], others: [crm, erp] });
    assert.equal(result.record.fields.email?.value, "erp@x.io");
  });

  test("when no source has a value the field is empty", () => {
    const crm = obs("crm", { email: "crm@x.io" });
    const current = build(crm);
    const cleared = obs("crm", { email: "" }, { observedAt: T2 });
    const result = run(cleared, { current, changed: ["email"], others: [obs("erp", { email: null })] });
    assert.equal(result.record.fields.email, undefined);
    assert.deepEqual(result.changed, ["email"]);
  });
});

describe("latest", () => {
  const a = obs("erp", { segment: "B2B" }, { sourceTime: T1, observedAt: T1 });

  test("a newer source time wins", () => {
    const current = build(a);
    const b = obs("crm", { segment: "B2C" }, { sourceTime: T2, observedAt: T0 });
    const result = run(b, { current, changed: ["segment"], others: [a] });
    assert.deepEqual(result.record.fields.segment, from(b, "segment", "latest"));
    assert.deepEqual(result.changed, ["segment"]);
  });

  test("an older source time loses", () => {
    const current = build(a);
    const b = obs("crm", { segment: "B2C" }, { sourceTime: T0, observedAt: T3 });
    const result = run(b, { current, changed: ["segment"], others: [a] });
    assert.deepEqual(result.record, current);
    assert.equal(result.touched, false);
  });

  test("equal source times go to the source first by name, whichever was read first", () => {
    const b = obs("crm", { segment: "B2C" }, { sourceTime: T1, observedAt: T3 });
    assert.deepEqual(run(b, { current: build(a), others: [a] }).record.fields.segment, from(b, "segment", "latest"));
    assert.deepEqual(run(a, { current: build(b), others: [b] }).record.fields.segment, from(b, "segment", "latest"));
  });

  test("without source times, the time observed decides", () => {
    const x = obs("erp", { segment: "B2B" }, { observedAt: T1 });
    const current = build(x);
    const newer = obs("crm", { segment: "B2C" }, { observedAt: T2 });
    assert.equal(
      run(newer, { current, changed: ["segment"], others: [x] }).record.fields.segment?.value,
      "B2C",
    );
    const older = obs("crm", { segment: "B2C" }, { observedAt: T0 });
    assert.equal(
      run(older, { current, changed: ["segment"], others: [x] }).record.fields.segment?.value,
      "B2B",
    );
  });

  test("a source without a source time is compared by its time observed against the other's source time", () => {
    const current = build(a);
    const b = obs("crm", { segment: "B2C" }, { observedAt: T2 });
    assert.equal(run(b, { current, changed: ["segment"], others: [a] }).record.fields.segment?.value, "B2C");
  });

  test("the source holding the value updates it whatever its time", () => {
    const current = build(a);
    const a2 = obs("erp", { segment: "SMB" }, { sourceTime: T0, observedAt: T2 });
    const result = run(a2, { current, changed: ["segment"] });
    assert.deepEqual(result.record.fields.segment, from(a2, "segment", "latest"));
  });

  test("times are compared as instants, whatever digits their fractions have", () => {
    const micro = obs("erp", { segment: "B2B" }, { sourceTime: "2024-01-02T00:00:00.123456Z" });
    const milli = obs("crm", { segment: "B2C" }, { sourceTime: "2024-01-02T00:00:00.123Z" });
    assert.equal(run(milli, { current: build(micro), others: [micro] }).record.fields.segment?.value, "B2B");
    const later = obs("crm", { segment: "B2C" }, { sourceTime: "2024-01-02T00:00:00.1235Z" });
    assert.equal(run(later, { current: build(micro), others: [micro] }).record.fields.segment?.value, "B2C");
  });

  test("an empty value never wins, however new", () => {
    const current = build(a);
    const b = obs("crm", { segment: null }, { sourceTime: T2 });
    assert.equal(run(b, { current, changed: ["segment"], others: [a] }).record.fields.segment?.value, "B2B");
  });
});

describe("flag", () => {
  const a = obs("erp", { phone: "111" });

  test("the first value applies", () => {
    assert.deepEqual(run(a).record.fields.phone, from(a, "phone", "flag"));
  });

  test("a value fills an empty field without a conflict", () => {
    const current = build(obs("erp", { phone: null }));
    const b = obs("crm", { phone: "222" });
    const result = run(b, { current, changed: ["phone"], others: [obs("erp", { phone: null })] });
    assert.deepEqual(result.record.fields.phone, from(b, "phone", "flag"));
    assert.deepEqual(result.conflicts, []);
  });

  test("an agreeing source is fine: no conflict, no new version", () => {
    const current = build(a);
    const b = obs("crm", { phone: "111" }, { observedAt: T2 });
    const result = run(b, { current, changed: ["phone"], others: [a] });
    assert.deepEqual(result.conflicts, []);
    assert.deepEqual(result.changed, []);
    assert.equal(result.record.fields.phone?.value, "111");
    assert.equal(result.record.version, 1);
  });

  test("the source holding the value may change it", () => {
    const current = build(a);
    const a2 = obs("erp", { phone: "333" }, { observedAt: T2 });
    const result = run(a2, { current, changed: ["phone"] });
    assert.deepEqual(result.record.fields.phone, from(a2, "phone", "flag"));
    assert.deepEqual(result.changed, ["phone"]);
    assert.deepEqual(result.conflicts, []);
  });

  test("a disagreeing source opens a conflict and the field keeps its value", () => {
    const current = build(a);
    const b = obs("crm", { phone: "222" }, { sourceTime: T2, observedAt: T3 });
    const result = run(b, { current, changed: ["phone"], others: [a] });
    assert.deepEqual(result.conflicts, [
      {
        type: "open",
        field: "phone",
        current: { value: "111", source: "erp" },
        candidates: [{ source: "crm", value: "222", sourceTime: T2, observedAt: T3 }],
      },
    ]);
    assert.deepEqual(result.record.fields.phone, { ...current.fields.phone, conflicted: true });
    assert.deepEqual(result.changed, []);
    assert.equal(result.touched, true);
    assert.equal(result.record.version, 1);
  });

  test("a disagreeing empty value is ignored", () => {
    const current = build(a);
    const result = run(obs("crm", { phone: "" }), { current, changed: ["phone"], others: [a] });
    assert.deepEqual(result.conflicts, []);
    assert.deepEqual(result.record, current);
    assert.equal(result.touched, false);
  });

  describe("an open conflict", () => {
    const b = obs("crm", { phone: "222" });
    const open: OpenConflict = {
      id: 7,
      field: "phone",
      candidates: [{ source: "crm", value: "222", sourceTime: null, observedAt: T1 }],
    };
    const conflicted = (): GoldenRecord => {
      const r = build(a);
      return { ...r, fields: { ...r.fields, phone: { ...r.fields.phone!, conflicted: true } } };
    };

    test("is not opened twice, and unchanged candidates are not rewritten", () => {
      const current = conflicted();
      const b2 = obs("crm", { phone: "222" }, { observedAt: T2 });
      const result = run(b2, { current, changed: ["phone"], others: [a], openConflicts: [open] });
      assert.deepEqual(result.conflicts, []);
      assert.deepEqual(result.record, current);
    });

    test("gets its candidates updated when they change", () => {
      const current = conflicted();
      const b2 = obs("crm", { phone: "333" }, { observedAt: T2 });
      const result = run(b2, { current, changed: ["phone"], others: [a], openConflicts: [open] });
      assert.deepEqual(result.conflicts, [
        {
          type: "update",
          id: 7,
          field: "phone",
          current: { value: "111", source: "erp" },
          candidates: [{ source: "crm", value: "333", sourceTime: null, observedAt: T2 }],
        },
      ]);
      assert.equal(result.record.fields.phone?.value, "111");
      assert.equal(result.record.fields.phone?.conflicted, true);

      // A third source joins the dispute; candidates are sorted by source.
      const web = obs("web", { phone: "444" }, { observedAt: T3 });
      const next = run(web, { current, changed: ["phone"], others: [a, b], openConflicts: [open] });
      assert.deepEqual(next.conflicts, [
        {
          type: "update",
          id: 7,
          field: "phone",
          current: { value: "111", source: "erp" },
          candidates: [
            { source: "crm", value: "222", sourceTime: null, observedAt: T1 },
            { source: "web", value: "444", sourceTime: null, observedAt: T3 },
          ],
        },
      ]);
    });

    test("closes by itself when the other source comes to agree", () => {
      const current = conflicted();
      const b2 = obs("crm", { phone: "111" }, { observedAt: T2 });
      const result = run(b2, { current, changed: ["phone"], others: [a], openConflicts: [open] });
      assert.deepEqual(result.conflicts, [
        { type: "close", id: 7, field: "phone", reason: "the sources now agree" },
      ]);
      // Agreeing confirms the value; the source that set it keeps it.
      assert.deepEqual(result.record.fields.phone, from(a, "phone", "flag"));
      assert.equal(result.touched, true);
      assert.equal(result.record.version, 1);
    });

    test("closes by itself when the holder comes to agree, taking the agreed value", () => {
      const current = conflicted();
      const a2 = obs("erp", { phone: "222" }, { observedAt: T2 });
      const result = run(a2, { current, changed: ["phone"], others: [b], openConflicts: [open] });
      assert.deepEqual(result.conflicts, [
        { type: "close", id: 7, field: "phone", reason: "the sources now agree" },
      ]);
      assert.deepEqual(result.record.fields.phone, from(a2, "phone", "flag"));
      assert.deepEqual(result.changed, ["phone"]);
      assert.equal(result.record.version, 2);
    });

    test("ignores the incoming source's own older observation among the others", () => {
      const current = conflicted();
      const b2 = obs("crm", { phone: "111" }, { observedAt: T2 });
      const result = run(b2, { current, changed: ["phone"], others: [a, b], openConflicts: [open] });
      assert.deepEqual(result.conflicts, [
        { type: "close", id: 7, field: "phone", reason: "the sources now agree" },
      ]);
    });

    test("empties the field when no holder says its value any more, the dispute going on", () => {
      const current = conflicted();
      const withCurrent: OpenConflict = { ...open, current: { value: "111", source: "erp" } };
      const a2 = obs("erp", { phone: "112" }, { observedAt: T2 });
      const result = run(a2, { current, changed: ["phone"], others: [b], openConflicts: [withCurrent] });
      const candidates = [...open.candidates, { source: "erp", value: "112", sourceTime: null, observedAt: T2 }];
      assert.deepEqual(result.conflicts, [{ type: "update", id: 7, field: "phone", current: { value: null, source: "" }, candidates }]);
      assert.equal(result.record.fields.phone, undefined);
    });

    test("keeps a destination's value as a candidate until the field comes to match it", () => {
      const current = conflicted();
      const edit: OpenConflict = {
        id: 9,
        field: "phone",
        current: { value: "111", source: "erp" },
        candidates: [{ source: "destination:hubspot", value: "999", sourceTime: null, observedAt: T1 }],
      };
      const a2 = obs("erp", { phone: "111", segment: "x" }, { observedAt: T2 });
      assert.deepEqual(run(a2, { current, changed: ["segment"], others: [], openConflicts: [edit] }).conflicts, []);

      // On a field that is not flagged, another source's differing value is no candidate.
      const onOwned: OpenConflict = { ...edit, id: 10, field: "name", current: { value: "Ada", source: "erp" } };
      const named = build(obs("erp", { name: "Ada" }));
      const withMark: GoldenRecord = { ...named, fields: { ...named.fields, name: { ...named.fields.name!, conflicted: true } } };
      const erpAgain = obs("erp", { name: "Ada", segment: "y" }, { observedAt: T2 });
      const crm = obs("crm", { name: "Someone else" });
      const owned = run(erpAgain, { current: withMark, changed: ["segment"], others: [crm], openConflicts: [onOwned] });
      assert.deepEqual(owned.conflicts, []);

      const a3 = obs("erp", { phone: "999" }, { observedAt: T3 });
      const agreed = run(a3, { current, changed: ["phone"], others: [], openConflicts: [edit] });
      assert.deepEqual(agreed.conflicts, [{ type: "close", id: 9, field: "phone", reason: "the sources now agree" }]);
      assert.equal(agreed.record.fields.phone?.value, "999");
      assert.equal(agreed.record.fields.phone?.conflicted, undefined);
    });

    test("closes when a change to another field shows the sources agree", () => {
      const current = conflicted();
      const b2 = obs("crm", { phone: "111", segment: "x" }, { observedAt: T2 });
      const result = run(b2, { current, changed: ["segment"], others: [a], openConflicts: [open] });
      assert.deepEqual(result.conflicts, [
        { type: "close", id: 7, field: "phone", reason: "the sources now agree" },
      ]);
      assert.equal(result.record.fields.phone?.conflicted, undefined);
    });
  });
});

describe("version", () => {
  test("bumps once per merge that changes values, however many", () => {
    const current = build(obs("erp", { name: "Ada", segment: "a" }));
    const result = run(obs("erp", { name: "Bob", segment: "b" }, { observedAt: T2 }), {
      current,
      changed: ["name", "segment"],
    });
    assert.deepEqual(result.changed, ["name", "segment"]);
    assert.equal(result.record.version, 2);
  });

  test("does not bump when nothing changes, and the record is untouched", () => {
    const erp = obs("erp", { name: "Ada" });
    const current = build(erp);
    const result = run(erp, { current, changed: ["name"] });
    assert.deepEqual(result, { record: current, changed: [], touched: false, conflicts: [] });
  });

  test("a withdrawn record comes back active, with a new version even without a value change", () => {
    const erp = obs("erp", { name: "Ada" });
    for (const status of ["deleted", "archived"] as const) {
      const gone = withdraw(build(erp), status);
      const result = run(erp, { current: gone, changed: ["name"] });
      assert.equal(result.record.status, "active");
      assert.equal(result.record.version, 3);
      assert.deepEqual(result.changed, []);
      assert.deepEqual(result.record.fields, build(erp).fields);
      assert.equal(result.touched, true);
    }
  });
});

describe("resolveField", () => {
  const decision = { value: "999", source: "operator", sourceTime: null, run: "operator", at: T3, holders: { erp: "111" } };

  test("sets the operator's value, clears the conflict mark and bumps the version", () => {
    const r = build(obs("erp", { phone: "111", name: "Ada" }));
    const current = { ...r, fields: { ...r.fields, phone: { ...r.fields.phone!, conflicted: true } } };
    const before = structuredClone(current);
    const result = resolveField(current, "phone", decision);
    assert.deepEqual(result, {
      changed: true,
      record: {
        ...current,
        version: 2,
        fields: {
          ...current.fields,
          phone: {
            value: "999",
            source: "operator",
            run: "operator",
            at: T3,
            sourceTime: null,
            rule: "operator",
            pin: { erp: "111" },
          },
        },
      },
    });
    assert.deepEqual(current, before, "the input record is not modified");
  });

  test("picking the current value changes provenance but not the version", () => {
    const current = build(obs("erp", { phone: "111" }));
    const result = resolveField(current, "phone", { ...decision, value: "111", source: "erp" });
    assert.equal(result.changed, false);
    assert.equal(result.record.version, 1);
    assert.deepEqual(result.record.fields.phone, {
      value: "111",
      source: "erp",
      run: "operator",
      at: T3,
      sourceTime: null,
      rule: "operator",
      pin: { erp: "111" },
    });
  });

  test("a value for a field the record did not have is a change; an empty one is not", () => {
    const current = build(obs("erp", {}));
    const result = resolveField(current, "phone", decision);
    assert.equal(result.changed, true);
    assert.equal(result.record.version, 2);
    assert.equal(resolveField(current, "phone", { ...decision, value: null }).changed, false);
  });

  test("the decision stands while the holders say what they said, and lapses when one of them changes", () => {
    const resolved = resolveField(build(obs("erp", { phone: "111" })), "phone", decision).record;
    const same = run(obs("erp", { phone: "111" }, { observedAt: T3 }), { current: resolved });
    assert.deepEqual(same.conflicts, []);
    assert.equal(same.record.fields.phone?.value, "999");
    assert.equal(same.touched, false);
    const changed = run(obs("erp", { phone: "222" }, { observedAt: T3 }), { current: resolved });
    assert.deepEqual(changed.conflicts, []);
    assert.deepEqual(changed.record.fields.phone, { value: "222", source: "erp", run: "r1", at: T3, sourceTime: null, rule: "flag" });
  });
});

describe("withdraw", () => {
  test("marks the record and bumps the version, leaving the fields", () => {
    const current = build(obs("erp", { name: "Ada" }));
    const before = structuredClone(current);
    assert.deepEqual(withdraw(current, "deleted"), { ...current, status: "deleted", version: 2 });
    assert.deepEqual(withdraw(current, "archived"), { ...current, status: "archived", version: 2 });
    assert.deepEqual(current, before);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Properties. A small simulation of the runner: each source's latest observation is kept as its snapshot, an
// observation identical to the snapshot is skipped (same hash), `changed` comes from diff, and conflict
// changes are applied to the set of open conflicts handed to the next merge.

const SOURCES = ["a", "b", "c"] as const;
const FIELDS = ["id", "name", "email", "segment", "phone", "note"];
const mixed: MergeRules = {
  key: "id",
  rules: {
    name: { kind: "owner", owner: "a" },
    email: { kind: "priority", order: ["b", "a", "c"] },
    segment: { kind: "latest" },
    phone: { kind: "flag" },
  },
};

type Event =
  | { kind: "observe"; source: string; values: Values; sourceTime: string | null }
  | { kind: "withdraw" };

const valueArb = fc.constantFrom<Value>(null, "", "x", "y", "z");
const timeArb = fc.option(fc.constantFrom(T0, T1, T2, T3), { nil: null });
const observeArb = (sources: readonly string[] = SOURCES) =>
  fc.record({
    kind: fc.constant("observe" as const),
    source: fc.constantFrom(...sources),
    values: fc.record({
      id: fc.constant<Value>("K1"),
      name: valueArb,
      email: valueArb,
      segment: valueArb,
      phone: valueArb,
      note: valueArb,
    }),
    sourceTime: timeArb,
  });
const eventArb: fc.Arbitrary<Event> = fc.oneof(
  { weight: 12, arbitrary: observeArb() },
  { weight: 1, arbitrary: fc.constant({ kind: "withdraw" as const }) },
);

class Sim {
  record: GoldenRecord | undefined;
  snapshots = new Map<string, Observation>();
  open = new Map<string, OpenConflict>();
  nextId = 1;
  step = 0;
  /** Every value some source supplied, by field. */
  supplied = new Map<string, Set<Value>>();

  readonly rules: MergeRules;

  constructor(rules: MergeRules) {
    this.rules = rules;
  }

  /** The merge input for an observation, or undefined when the runner would skip it as unchanged. */
  input(e: Extract<Event, { kind: "observe" }>): MergeInput | undefined {
    const previous = this.snapshots.get(e.source);
    const changed = changedFields(previous?.values, e.values, FIELDS);
    if (previous && changed.length === 0) return undefined;
    this.step++;
    const incoming: Observation = {
      source: e.source,
      values: e.values,
      sourceTime: e.sourceTime,
      // Times are data: a step counter stands in for the clock.
      observedAt: new Date(Date.UTC(2024, 5, 1) + this.step * 1000).toISOString(),
      run: String(this.step),
    };
    return {
      rules: this.rules,
      entity: "customer",
      key: "K1",
      current: this.record,
      holders: [incoming, ...[...this.snapshots.values()].filter((o) => o.source !== e.source)],
      openConflicts: [...this.open.values()],
    };
  }

  commit(input: MergeInput, result: MergeResult): void {
    this.record = result.record;
    const incoming = input.holders[0]!;
    this.snapshots.set(incoming.source, incoming);
    for (const [f, v] of Object.entries(incoming.values)) {
      if (!this.supplied.has(f)) this.supplied.set(f, new Set());
      this.supplied.get(f)!.add(v);
    }
    this.applyConflicts(result.conflicts);
  }

  applyConflicts(changes: readonly ConflictChange[]): void {
    for (const c of changes) {
      if (c.type === "open")
        this.open.set(c.field, { id: this.nextId++, field: c.field, candidates: c.candidates });
      else if (c.type === "update")
        this.open.set(c.field, { id: c.id, field: c.field, candidates: c.candidates });
      else this.open.delete(c.field);
    }
  }

  /** Applies one event; calls `check` with the merge's input and result when a merge ran. */
  apply(
    e: Event,
    check?: (input: MergeInput, result: MergeResult, before: GoldenRecord | undefined) => void,
  ): void {
    if (e.kind === "withdraw") {
      if (this.record && this.record.status === "active") this.record = withdraw(this.record, "deleted");
      return;
    }
    const input = this.input(e);
    if (!input) return;
    const before = this.record;
    const result = merge(input);
    check?.(input, result, before);
    this.commit(input, result);
  }
}

/** The first non-empty value of `field` among the snapshots, in `order`. */
function bestOf(snapshots: Map<string, Observation>, order: readonly string[], field: string) {
  for (const s of order) {
    const v = snapshots.get(s)?.values[field];
    if (v !== undefined && !isEmptyValue(v)) return { value: v, source: s };
  }
  return { value: null, source: undefined };
}

describe("merge properties", () => {
  test("merging the same observation again changes nothing", () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 12 }), observeArb(), (history, last) => {
        const sim = new Sim(mixed);
        for (const e of history) sim.apply(e);
        const input = sim.input(last);
        if (!input) return;
        const first = merge(input);
        sim.applyConflicts(first.conflicts);
        const again = merge({ ...input, current: first.record, openConflicts: [...sim.open.values()] });
        assert.deepEqual(again, { record: first.record, changed: [], touched: false, conflicts: [] });
      }),
      { numRuns: 500 },
    );
  });

  test("with owner rules, each field is its owner's latest value, in any arrival order", () => {
    const owners: MergeRules = {
      key: "id",
      rules: {
        name: { kind: "owner", owner: "a" },
        email: { kind: "owner", owner: "b" },
        segment: { kind: "owner", owner: "c" },
        phone: { kind: "owner", owner: "a" },
        note: { kind: "owner", owner: "b" },
      },
    };
    fc.assert(
      fc.property(fc.array(observeArb(), { maxLength: 20 }), (events) => {
        const sim = new Sim(owners);
        for (const e of events) {
          sim.apply(e);
          for (const [field, rule] of Object.entries(owners.rules)) {
            if (rule.kind !== "owner") continue;
            const owner = sim.snapshots.get(rule.owner);
            const got = sim.record?.fields[field];
            const value = owner?.values[field];
            if (value === undefined || isEmptyValue(value)) assert.equal(got, undefined);
            else {
              assert.equal(got?.value, value);
              assert.equal(got?.source, rule.owner);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  test("with priority rules, each field is the best-ranked non-empty value after every merge", () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 20 }), (events) => {
        const sim = new Sim(mixed);
        for (const e of events) {
          sim.apply(e);
          if (e.kind === "withdraw" || sim.record === undefined) continue;
          const best = bestOf(sim.snapshots, ["b", "a", "c"], "email");
          assert.equal(sim.record.fields.email?.value ?? null, best.value);
          if (best.source) assert.equal(sim.record.fields.email?.source, best.source);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("with priority rules, the final record does not depend on the arrival order", () => {
    const priorities: MergeRules = {
      key: "id",
      rules: {
        name: { kind: "priority", order: ["a", "b", "c"] },
        email: { kind: "priority", order: ["b", "a", "c"] },
        segment: { kind: "priority", order: ["c", "b", "a"] },
        phone: { kind: "priority", order: ["c", "a", "b"] },
        note: { kind: "priority", order: ["b", "c", "a"] },
      },
    };
    const oneEach = fc
      .tuple(observeArb(["a"]), observeArb(["b"]), observeArb(["c"]))
      .chain((events) =>
        fc.tuple(
          fc.shuffledSubarray(events, { minLength: 3, maxLength: 3 }),
          fc.shuffledSubarray(events, { minLength: 3, maxLength: 3 }),
        ),
      );
    const final = (events: Event[]) => {
      const sim = new Sim(priorities);
      for (const e of events) sim.apply(e);
      const f = sim.record!.fields;
      return Object.fromEntries(
        Object.keys(priorities.rules).map((k) => [
          k,
          f[k]?.value === null ? null : { value: f[k]?.value, source: f[k]?.source },
        ]),
      );
    };
    fc.assert(
      fc.property(oneEach, ([x, y]) => {
        assert.deepEqual(final(x), final(y));
      }),
      { numRuns: 300 },
    );
  });

  test("the version never decreases, and rises by one exactly when values change or a record returns", () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 25 }), (events) => {
        const sim = new Sim(mixed);
        for (const e of events) {
          const beforeVersion = sim.record?.version ?? 0;
          sim.apply(e, (_input, result, before) => {
            const revived = before !== undefined && before.status !== "active";
            assert.equal(
              result.record.version,
              (before?.version ?? 0) + (result.changed.length > 0 || revived ? 1 : 0),
            );
            // `changed` is exactly the fields whose value differs.
            const differ = FIELDS.filter((f) => (before?.fields[f]?.value ?? null) !== (result.record.fields[f]?.value ?? null));
            assert.deepEqual([...result.changed].sort(), differ.sort());
            if (!result.touched) assert.deepEqual(result.record, before);
          });
          assert.ok((sim.record?.version ?? 0) >= beforeVersion);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("a flag field always holds a value some source supplied, and open conflicts follow the sources", () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 25 }), (events) => {
        const sim = new Sim(mixed);
        for (const e of events) {
          sim.apply(e);
          const phone = sim.record?.fields.phone;
          if (!phone) continue;
          assert.ok(
            sim.supplied.get("phone")?.has(phone.value),
            `phone ${String(phone.value)} was never supplied`,
          );
          const conflict = sim.open.get("phone");
          assert.equal(phone.conflicted === true, conflict !== undefined);
          if (conflict) {
            // Every holder's value but the one the field takes its value from.
            const expected = [...sim.snapshots.values()]
              .filter((o) => !isEmptyValue(o.values.phone) && o.source !== phone.source)
              .map((o) => ({ source: o.source, value: o.values.phone }))
              .sort((x, y) => x.source.localeCompare(y.source));
            assert.ok(expected.some((c) => c.value !== phone.value), "an open conflict has a competing value");
            assert.deepEqual(
              conflict.candidates.map((c) => ({ source: c.source, value: c.value })),
              expected,
            );
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
