/**
 * Model-based test of survivorship: random histories of source edits, job runs and conflict resolutions are
 * applied both to the reference model (./model.ts, the README's rules) and to the real Ferry (./harness.ts,
 * SQLite sources and state), and after every step the golden records, the open conflicts and the outbox
 * must match the model. A failure is minimized to a short history, printed step by step with the first
 * difference (key, field, expected and actual).
 *
 * FERRY_MODEL_RUNS sets the number of histories (default 100, a few seconds; `npm run test:model` runs 1000),
 * FERRY_MODEL_SEED replays a failure.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import fc from "fast-check";
import { Harness, type Observed } from "./harness.ts";
import {
  type Cell,
  type Cells,
  type Decision,
  describeStep,
  FIELDS,
  FLAG_FIELD,
  type Key,
  KEYS,
  Model,
  sameView,
  type Source,
  SOURCES,
  type Step,
  TIMES,
  type View,
} from "./model.ts";

const RUNS = Number(process.env.FERRY_MODEL_RUNS ?? 100);
const SEED = process.env.FERRY_MODEL_SEED ? Number(process.env.FERRY_MODEL_SEED) : Date.now() % 2 ** 31;

// --- Histories -------------------------------------------------------------------------------------------

const source = fc.constantFrom(...SOURCES);
const key = fc.constantFrom(...KEYS);
const cell = fc.constantFrom<Cell>("x", "y", "z", null, "");
const ts = fc.constantFrom(...TIMES);
const cells = fc.record<Cells>({ f_owner: cell, f_prio: cell, f_latest: cell, f_flag: cell });
const decision = fc.oneof(
  source.map((s): Decision => ({ use: s })),
  fc.constantFrom("x", "y", "w").map((v): Decision => ({ value: v })),
);

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("put"), source, key, cells, ts }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("set"), source, key, field: fc.constantFrom(...FIELDS), cell }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("touch"), source, key, ts }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete"), source, key }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("run"), source }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("resolve"), key, decision }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("resolveClosed"), key, decision }) },
);

const history = fc.array(step, { minLength: 5, maxLength: 25 });

// --- Comparing the model with what Ferry holds -------------------------------------------------------------

const show = (v: unknown) => (v === undefined ? "nothing" : JSON.stringify(v));
const candidatesText = (m: ReadonlyMap<string, unknown>) =>
  [...m].sort(([a], [b]) => a.localeCompare(b)).map(([s, v]) => `${s}=${show(v)}`).join(", ") || "none";

function goldenDifference(model: Model, observed: Observed, k: Key): string | null {
  const expected = model.golden.get(k);
  const actual = observed.golden.get(k);
  if (!expected || !actual) {
    return expected || actual ? `${k}: expected ${expected ? `a ${expected.status} record` : "no record"}, actual ${actual ? `a ${actual.status} record` : "none"}` : null;
  }
  if (expected.status !== actual.status) return `${k}: expected status ${expected.status}, actual ${actual.status}`;
  if (expected.status === "deleted") return null;
  for (const f of FIELDS) {
    const value = actual.fields[f] ?? null;
    if (value !== expected.fields[f]) return `${k}.${f}: expected ${show(expected.fields[f])}, actual ${show(value)}`;
  }
  return null;
}

function conflictDifference(model: Model, observed: Observed, k: Key): string | null {
  const open = observed.open.filter((c) => c.key === k);
  const stray = open.find((c) => c.field !== FLAG_FIELD);
  if (stray) return `${k}.${stray.field}: conflict #${stray.id} is open on a field without the flag rule`;
  if (open.length > 1) return `${k}.${FLAG_FIELD}: ${open.length} conflicts open at once (#${open.map((c) => c.id).join(", #")})`;
  const expected = model.conflicts.get(k);
  const actual = open[0];
  if (!expected && !actual) return null;
  const text = (c: ReadonlyMap<string, unknown> | undefined) => (c ? `open (${candidatesText(c)})` : "no open conflict");
  if (!expected || !actual || text(expected) !== text(actual.candidates)) {
    return `${k}.${FLAG_FIELD}: expected ${text(expected)}, actual ${actual ? `#${actual.id} ` : ""}${text(actual?.candidates)}`;
  }
  return null;
}

/** The outbox rows this step added for the key must be exactly one when the destination's view changed. */
function outboxDifference(k: Key, was: View | null, now: View | null, before: Observed, observed: Observed): string | null {
  const lastId = before.outbox.at(-1)?.id ?? 0;
  const added = observed.outbox.filter((r) => r.key === k && r.id > lastId);
  if (sameView(was, now)) {
    return added.length === 0 ? null : `${k}: the record did not change, yet ${added.length} outbox row(s) were added (${added.map((r) => `${r.op} ${show(r.properties)}`).join("; ")})`;
  }
  if (added.length !== 1) return `${k}: the record changed to ${show(now)}; expected one outbox row, actual ${added.length}`;
  const row = added[0]!;
  const previous = before.outbox.filter((r) => r.key === k).at(-1);
  if (previous && row.version <= previous.version) return `${k}: outbox version ${row.version} after version ${previous.version}: an idempotency key (destination, entity, key, version) would repeat`;
  const actual: View = row.op === "delete" ? { op: "delete" } : { op: "upsert", properties: row.properties };
  return sameView(now, actual) ? null : `${k}: expected outbox row ${show(now)}, actual ${show(actual)}`;
}

function firstDifference(model: Model, views: Map<Key, View | null>, before: Observed, observed: Observed): string | null {
  for (const k of KEYS) {
    const found = goldenDifference(model, observed, k)
      ?? conflictDifference(model, observed, k)
      ?? outboxDifference(k, views.get(k) ?? null, model.view(k), before, observed);
    if (found) return found;
  }
  return null;
}

// --- Replaying a history -----------------------------------------------------------------------------------

/** A history on which Ferry and the model part ways, at step `at` (0-based). */
class HistoryError extends Error {
  readonly at: number;
  constructor(message: string, at: number) {
    super(message);
    this.at = at;
  }
}

function failure(steps: readonly Step[], at: number, difference: string, model: Model, observed?: Observed): HistoryError {
  const lines = steps.slice(0, at + 1).map((s, i) => `  ${String(i + 1).padStart(2)}. ${describeStep(s)}`);
  const state = KEYS.map((k) => {
    const actual = observed?.golden.get(k);
    const expected = model.golden.get(k);
    return `  ${k}: model ${show(expected?.status === "active" ? expected.fields : expected?.status)}; ferry ${show(actual?.status === "active" ? actual.fields : actual?.status)}`;
  });
  return new HistoryError(
    `after step ${at + 1} (${describeStep(steps[at]!)}): ${difference}\n\nhistory:\n${lines.join("\n")}\n\nrecords:\n${state.join("\n")}`,
    at,
  );
}

/** Applies the steps to a fresh model and to the real thing, comparing after each; returns both at the end. */
async function replay(h: Harness, steps: readonly Step[]): Promise<{ model: Model; observed: Observed }> {
  await h.reset();
  const model = new Model();
  let observed = await h.observe();
  for (const [i, s] of steps.entries()) {
    const views = new Map(KEYS.map((k) => [k, model.view(k)]));
    const outcome = model.apply(s);
    const now = new Date(Date.UTC(2024, 1, 1, 0, 0, i));
    let problem: string | null;
    let next: Observed;
    try {
      problem = await h.apply(s, outcome, now);
      next = await h.observe();
    } catch (e) {
      throw failure(steps, i, `threw ${(e as Error)?.stack ?? String(e)}`, model, observed);
    }
    if (problem) throw failure(steps, i, problem, model, next);
    const difference = firstDifference(model, views, observed, next);
    if (difference) throw failure(steps, i, difference, model, next);
    observed = next;
  }
  return { model, observed };
}

// --- Tests --------------------------------------------------------------------------------------------------

let h: Harness;
before(async () => {
  h = await Harness.create();
});
after(() => h?.close());

async function failureOf(steps: readonly Step[]): Promise<HistoryError | null> {
  try {
    await replay(h, steps);
    return null;
  } catch (e) {
    if (e instanceof HistoryError) return e;
    throw e;
  }
}

/**
 * The shortest failing history this finds: steps after the failure are cut, then chunks of steps and single
 * steps are removed while the history still fails, then the cells of each put are emptied one by one.
 * (fast-check's own shrinking of a step array replays several hundred histories and leaves steps in that
 * play no part; removing steps directly is quicker and gives shorter histories.)
 */
async function minimize(steps: readonly Step[], first: HistoryError): Promise<{ steps: readonly Step[]; error: HistoryError }> {
  let best = { steps: steps.slice(0, first.at + 1), error: first };
  const attempt = async (candidate: readonly Step[]) => {
    const error = await failureOf(candidate);
    if (error) best = { steps: candidate.slice(0, error.at + 1), error };
    return error !== null;
  };
  for (let size = 2 ** Math.floor(Math.log2(Math.max(1, best.steps.length / 2))); size >= 1; size /= 2) {
    for (let i = 0; i + size <= best.steps.length;) {
      if (!(await attempt([...best.steps.slice(0, i), ...best.steps.slice(i + size)]))) i += size;
    }
  }
  for (let i = 0; i < best.steps.length; i++) {
    for (const f of FIELDS) {
      const s = best.steps[i]!;
      if (s.kind !== "put" || s.cells[f] === null) continue;
      await attempt(best.steps.with(i, { ...s, cells: { ...s.cells, [f]: null } }));
    }
  }
  return best;
}

test(`golden records, conflicts and the outbox follow the README over ${RUNS} random histories`, async (t) => {
  const started = performance.now();
  const details = await fc.check(
    fc.asyncProperty(history, async (steps) => {
      await replay(h, steps);
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );
  const perHistory = (performance.now() - started) / details.numRuns;
  t.diagnostic(`${details.numRuns} histories, ${perHistory.toFixed(0)} ms each, seed ${details.seed}`);
  if (!details.failed) return;
  const found = details.errorInstance;
  if (!(found instanceof HistoryError)) throw found;
  const { steps, error } = await minimize(details.counterexample![0], found);
  assert.fail(
    `${error.message}\n\n(history ${details.numRuns} of ${RUNS} failed; minimized to ${steps.length} steps; `
    + `replay with FERRY_MODEL_SEED=${details.seed})`,
  );
});

// Hand-written histories of the behaviours the README promises and the engine has got wrong. They do not use
// the model: each plays its steps on the real thing and asserts its point directly, so a misreading in the
// model cannot hide or fake one of them.

let tick = 0;
/** Applies steps the model would call done (runs succeed, resolutions are accepted), then observes. */
async function play(...steps: Step[]): Promise<Observed> {
  for (const s of steps) {
    const problem = await h.apply(s, "done", new Date(Date.UTC(2024, 1, 1, 0, 0, tick++)));
    assert.equal(problem, null, `${describeStep(s)}: ${problem}`);
  }
  return h.observe();
}

async function refused(s: Extract<Step, { kind: "resolve" | "resolveClosed" }>): Promise<void> {
  const problem = await h.apply(s, "refused", new Date(Date.UTC(2024, 1, 1, 0, 0, tick++)));
  assert.equal(problem, null, `${describeStep(s)}: ${problem}`);
}

const put = (s: Source, k: Key, values: Partial<Cells>, t = 0): Step => ({
  kind: "put",
  source: s,
  key: k,
  cells: { f_owner: null, f_prio: null, f_latest: null, f_flag: null, ...values },
  ts: TIMES[t]!,
});
const run = (s: Source): Step => ({ kind: "run", source: s });
const del = (s: Source, k: Key): Step => ({ kind: "delete", source: s, key: k });
const field = (o: Observed, k: Key, f: string) => o.golden.get(k)?.fields[f] ?? null;
const openOn = (o: Observed, k: Key) => o.open.filter((c) => c.key === k).map((c) => Object.fromEntries(c.candidates));

describe("hand-written histories", () => {
  beforeEach(() => h.reset());

  test("a value goes with the source that said it: priority falls to the next ranked source, owner to empty", async () => {
    await play(put("a", "k1", { f_owner: "x", f_prio: "x" }), put("b", "k1", { f_prio: "y" }), run("a"), run("b"));
    assert.equal(field(await h.observe(), "k1", "f_prio"), "y");
    let o = await play(del("b", "k1"), run("b"));
    assert.equal(field(o, "k1", "f_prio"), "x", "b let go: a, ranked next, takes over");
    o = await play(put("b", "k1", { f_prio: "y" }), run("b"), del("a", "k1"), run("a"));
    assert.equal(field(o, "k1", "f_owner"), null, "a, the owner, let go: nobody else fills the field in");
    assert.equal(field(o, "k1", "f_prio"), "y");
  });

  test("flag: the same conflict, listing every holder's value, whichever order the sources are read in", async () => {
    const orders: Source[][] = [["a", "b", "c"], ["a", "c", "b"], ["b", "a", "c"], ["b", "c", "a"], ["c", "a", "b"], ["c", "b", "a"]];
    const seen: Record<string, unknown> = {};
    for (const order of orders) {
      await h.reset();
      const o = await play(put("a", "k1", { f_flag: "x" }), put("b", "k1", { f_flag: "y" }), put("c", "k1", { f_flag: "x" }), ...order.map(run));
      seen[order.join(", ")] = openOn(o, "k1");
    }
    const expected = Object.fromEntries(orders.map((order) => [order.join(", "), [{ a: "x", b: "y", c: "x" }]]));
    assert.deepEqual(seen, expected);
  });

  test("a conflict closes as its holders let go of the record, and resolving a closed conflict is refused", async () => {
    await play(put("a", "k1", { f_flag: "x" }), put("b", "k1", { f_flag: "y" }), run("a"), run("b"));
    assert.deepEqual(openOn(await h.observe(), "k1"), [{ a: "x", b: "y" }]);
    let o = await play(del("a", "k1"), run("a"));
    assert.deepEqual(o.open, [], "b alone holds the record: nothing to disagree on");
    assert.equal(field(o, "k1", "f_flag"), "y");
    o = await play(del("b", "k1"), run("b"));
    assert.equal(o.golden.get("k1")?.status, "deleted");
    assert.deepEqual(o.open, [], "no conflict stays open on a deleted record");
    await refused({ kind: "resolveClosed", key: "k1", decision: { value: "x" } });
    await refused({ kind: "resolveClosed", key: "k1", decision: { use: "a" } });
  });

  test("a record created again starts fresh: no value, pin or conflict of its earlier life comes back", async () => {
    await play(
      put("a", "k1", { f_flag: "x", f_prio: "x" }), put("b", "k1", { f_flag: "y" }), run("a"), run("b"),
      { kind: "resolve", key: "k1", decision: { value: "w" } },
      del("a", "k1"), del("b", "k1"), run("a"), run("b"),
    );
    let o = await play(put("c", "k1", {}), run("c"));
    assert.deepEqual(o.golden.get("k1"), { status: "active", fields: { key: "k1", f_owner: null, f_prio: null, f_latest: null, f_flag: null } });
    assert.deepEqual(o.open, []);
    o = await play(put("a", "k1", { f_flag: "x" }), put("b", "k1", { f_flag: "y" }), run("b"), run("a"));
    assert.deepEqual(openOn(o, "k1"), [{ a: "x", b: "y" }], "a new disagreement opens a new conflict: the old pin is gone");
  });

  test("--use of a source that no longer holds the record, or holds no value, is refused", async () => {
    await play(
      put("a", "k1", { f_flag: "x" }), put("b", "k1", { f_flag: "y" }), put("c", "k1", { f_flag: "z" }), run("a"), run("b"), run("c"),
      del("b", "k1"), run("b"),
    );
    await refused({ kind: "resolve", key: "k1", decision: { use: "b" } });
    await play({ kind: "set", source: "c", key: "k1", field: "f_flag", cell: null }, put("b", "k1", { f_flag: "y" }), run("b"), run("c"));
    await refused({ kind: "resolve", key: "k1", decision: { use: "c" } });
    const o = await play({ kind: "resolve", key: "k1", decision: { use: "b" } });
    assert.equal(field(o, "k1", "f_flag"), "y");
    assert.deepEqual(o.open, []);
  });
});
