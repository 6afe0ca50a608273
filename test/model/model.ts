/**
 * A reference model of how Ferry chooses a golden record, written from the README ("How a field's value is
 * chosen", "Conflicts", "Snapshots, deletes and the mass-delete guard" and the mapping's Rules table), not
 * from the engine. It is deliberately naive: after every step it recomputes every record from what each
 * source said at its last run, the rules, and the operator's pins.
 *
 * The world it models: three sources `a`, `b`, `c`, each a table of rows (ID, F_OWNER, F_PRIO, F_LATEST,
 * F_FLAG, TS) read by a snapshot job with `deletes: propagate`, and one mapping `thing` whose fields are
 *
 *   f_owner:  { owner: a }           c maps it too, and must never count
 *   f_prio:   { priority: [b, a] }   c does not map it
 *   f_latest: latest                 by each job's `source_time: TS`, ties to the first source by name
 *   f_flag:   flag
 */

export const SOURCES = ["a", "b", "c"] as const;
export type Source = (typeof SOURCES)[number];

export const KEYS = ["k1", "k2"] as const;
export type Key = (typeof KEYS)[number];

export const FIELDS = ["f_owner", "f_prio", "f_latest", "f_flag"] as const;
export type Field = (typeof FIELDS)[number];

/** The only field with the `flag` rule, so the only one conflicts (and pins) are about. */
export const FLAG_FIELD = "f_flag" satisfies Field;

/** The source table's column for each field. */
export const COLUMN: Readonly<Record<Field, string>> = {
  f_owner: "F_OWNER",
  f_prio: "F_PRIO",
  f_latest: "F_LATEST",
  f_flag: "F_FLAG",
};

/** Which fields each source's mapping reads (a source that maps no column to a field says nothing about it). */
export const MAPS: Readonly<Record<Source, readonly Field[]>> = {
  a: FIELDS,
  b: FIELDS,
  c: ["f_owner", "f_latest", "f_flag"],
};

export const PRIORITY: readonly Source[] = ["b", "a"];
export const OWNER: Source = "a";

/** What a cell of a source table may hold; "" is an empty value, the same as null once mapped. */
export type Cell = string | null;
/** A canonical value: all fields are strings, and an empty one is null. */
export type Value = string | null;

export type Cells = Record<Field, Cell>;
export type Values = Partial<Record<Field, Value>>;

/** One row of a source table. `ts` is the TS column, an ISO time (every row has one). */
export interface Row {
  cells: Cells;
  ts: string;
}

/** What a source said about a record at its last run: the mapped values, and its source time. */
export interface Held {
  values: Values;
  ts: string;
}

export type Decision = { use: Source } | { value: string };

export type Step =
  /** Inserts the row, or replaces it whole (re-inserting a deleted key). */
  | { kind: "put"; source: Source; key: Key; cells: Cells; ts: string }
  /** Updates one cell of an existing row; nothing when the row is absent. */
  | { kind: "set"; source: Source; key: Key; field: Field; cell: Cell }
  | { kind: "touch"; source: Source; key: Key; ts: string }
  | { kind: "delete"; source: Source; key: Key }
  /** A snapshot run of the source's job: the only way Ferry learns what changed in the table. */
  | { kind: "run"; source: Source }
  /** Resolves the open conflict on the key's flag field, if there is one. */
  | { kind: "resolve"; key: Key; decision: Decision }
  /** Resolves the key's most recent conflict that is no longer open, if there is one: always refused. */
  | { kind: "resolveClosed"; key: Key; decision: Decision };

export interface GoldenRecord {
  status: "active" | "deleted";
  fields: Record<Field, Value>;
}

/** An open conflict: each holder's non-empty value of the field, by source. */
export type Candidates = ReadonlyMap<Source, string>;

/** An operator's decision: the value chosen, and what every holder said about the field at that moment. */
export interface Pin {
  value: Value;
  said: ReadonlyMap<Source, Value>;
}

/** What the destination must end up with for a key: the newest outbox row's op and properties. */
export type View =
  | { op: "upsert"; properties: Record<string, Value> }
  | { op: "delete" };

/** What a step does, for the harness to expect of the real thing. */
export type Outcome = "done" | "refused" | "nothing";

const emptyFields = (): Record<Field, Value> => ({ f_owner: null, f_prio: null, f_latest: null, f_flag: null });

export const canonical = (cell: Cell): Value => (cell === null || cell === "" ? null : cell);

export class Model {
  readonly tables = new Map<Source, Map<Key, Row>>(SOURCES.map((s) => [s, new Map()]));
  readonly holders = new Map<Source, Map<Key, Held>>(SOURCES.map((s) => [s, new Map()]));
  readonly golden = new Map<Key, GoldenRecord>();
  readonly conflicts = new Map<Key, Candidates>();
  readonly pins = new Map<Key, Pin>();

  apply(step: Step): Outcome {
    switch (step.kind) {
      case "put":
        this.table(step.source).set(step.key, { cells: { ...step.cells }, ts: step.ts });
        return "done";
      case "set": {
        const row = this.table(step.source).get(step.key);
        if (!row) return "nothing";
        row.cells[step.field] = step.cell;
        return "done";
      }
      case "touch": {
        const row = this.table(step.source).get(step.key);
        if (!row) return "nothing";
        row.ts = step.ts;
        return "done";
      }
      case "delete":
        return this.table(step.source).delete(step.key) ? "done" : "nothing";
      case "run":
        this.run(step.source);
        return "done";
      case "resolve":
        return this.resolve(step.key, step.decision);
      case "resolveClosed":
        // Refused whenever there is a closed conflict to try (the harness finds it); nothing changes.
        return "refused";
    }
  }

  /** A snapshot run with `deletes: propagate`: the source now holds exactly what its table returns. */
  private run(source: Source): void {
    const before = this.holders.get(source)!;
    const held = new Map<Key, Held>();
    for (const [key, row] of this.table(source)) {
      const values: Values = {};
      for (const f of MAPS[source]) values[f] = canonical(row.cells[f]);
      // A row that maps to the same values counts as unchanged (README, Change detection): a TS that moved
      // alone is not news, and the values keep the source time they were said at.
      const was = before.get(key);
      held.set(key, { values, ts: was && sameValues(was.values, values) ? was.ts : row.ts });
    }
    this.holders.set(source, held);
    for (const key of KEYS) this.recompute(key);
  }

  private resolve(key: Key, decision: Decision): Outcome {
    if (!this.conflicts.has(key)) return "nothing";
    let value: Value;
    if ("use" in decision) {
      // `--use S` takes the value S holds now, and is refused for a source that holds none.
      value = this.holders.get(decision.use)!.get(key)?.values[FLAG_FIELD] ?? null;
      if (value === null) return "refused";
    } else {
      value = decision.value;
    }
    this.pins.set(key, { value, said: this.said(key) });
    this.recompute(key);
    return "done";
  }

  /** Every holder of the key that maps the flag field, and its value of it (empty included). */
  private said(key: Key): Map<Source, Value> {
    const said = new Map<Source, Value>();
    for (const s of SOURCES) {
      const held = this.holders.get(s)!.get(key);
      if (held && MAPS[s].includes(FLAG_FIELD)) said.set(s, held.values[FLAG_FIELD] ?? null);
    }
    return said;
  }

  private holdersOf(key: Key): [Source, Held][] {
    const out: [Source, Held][] = [];
    for (const s of SOURCES) {
      const held = this.holders.get(s)!.get(key);
      if (held) out.push([s, held]);
    }
    return out;
  }

  /** The record as the README defines it, from the holders, the rules and the pins; idempotent. */
  private recompute(key: Key): void {
    const holders = this.holdersOf(key);
    const before = this.golden.get(key);
    if (holders.length === 0) {
      // No source holds it: deleted, its conflicts close, and nothing of this life comes back.
      if (before?.status === "active") this.golden.set(key, { status: "deleted", fields: emptyFields() });
      this.conflicts.delete(key);
      this.pins.delete(key);
      return;
    }
    const previous = before?.status === "active" ? before.fields : emptyFields();
    const of = (s: Source, f: Field): Value => holders.find(([h]) => h === s)?.[1].values[f] ?? null;
    const fields = emptyFields();
    fields.f_owner = of(OWNER, "f_owner");
    fields.f_prio = PRIORITY.map((s) => of(s, "f_prio")).find((v) => v !== null) ?? null;
    fields.f_latest = latest(holders);
    fields.f_flag = this.flag(key, holders, previous.f_flag);
    this.golden.set(key, { status: "active", fields });
  }

  private flag(key: Key, holders: [Source, Held][], previous: Value): Value {
    const pin = this.pins.get(key);
    if (pin && sameSaid(pin.said, this.said(key))) {
      this.conflicts.delete(key);
      return pin.value;
    }
    this.pins.delete(key);
    const candidates = new Map<Source, string>();
    for (const [s, held] of holders) {
      const v = held.values[FLAG_FIELD];
      if (v !== undefined && v !== null) candidates.set(s, v);
    }
    const distinct = new Set(candidates.values());
    if (distinct.size <= 1) {
      this.conflicts.delete(key);
      return [...distinct][0] ?? null;
    }
    this.conflicts.set(key, candidates);
    // While they disagree the field keeps its value if a holder still says it, and is empty otherwise.
    return previous !== null && distinct.has(previous) ? previous : null;
  }

  /** The destination's view of the key: what its newest outbox row must say, or null if it never existed. */
  view(key: Key): View | null {
    const record = this.golden.get(key);
    if (!record) return null;
    if (record.status === "deleted") return { op: "delete" };
    return { op: "upsert", properties: { key, ...record.fields } };
  }

  private table(source: Source): Map<Key, Row> {
    return this.tables.get(source)!;
  }
}

/** `latest`: the holders' non-empty value with the newest source time; equal times go to the first source by name. */
function latest(holders: [Source, Held][]): Value {
  let best: { value: string; ts: string; source: Source } | undefined;
  for (const [source, held] of holders) {
    const value = held.values.f_latest;
    if (value === undefined || value === null) continue;
    if (!best || held.ts > best.ts || (held.ts === best.ts && source < best.source)) best = { value, ts: held.ts, source };
  }
  return best?.value ?? null;
}

function sameValues(a: Values, b: Values): boolean {
  return FIELDS.every((f) => (a[f] ?? null) === (b[f] ?? null));
}

function sameSaid(a: ReadonlyMap<Source, Value>, b: ReadonlyMap<Source, Value>): boolean {
  if (a.size !== b.size) return false;
  for (const [s, v] of a) if (!b.has(s) || b.get(s) !== v) return false;
  return true;
}

/** Two views are the same when they have the same op and, for upserts, every property the same (in any order). */
export function sameView(a: View | null, b: View | null): boolean {
  if (a === null || b === null || a.op === "delete" || b.op === "delete") return a?.op === b?.op;
  const names = new Set([...Object.keys(a.properties), ...Object.keys(b.properties)]);
  return [...names].every((p) => (a.properties[p] ?? null) === (b.properties[p] ?? null));
}

/** One line per step, for failure messages. */
export function describeStep(step: Step): string {
  const cell = (c: Cell) => (c === null ? "null" : JSON.stringify(c));
  const decision = (d: Decision) => ("use" in d ? `--use ${d.use}` : `--value ${JSON.stringify(d.value)}`);
  switch (step.kind) {
    case "put": {
      const cells = FIELDS.filter((f) => step.cells[f] !== null).map((f) => `${COLUMN[f]}=${cell(step.cells[f])}`);
      return `${step.source}: put ${step.key} ${cells.join(" ") || "(empty)"} TS=${shortTime(step.ts)}`;
    }
    case "set":
      return `${step.source}: set ${step.key}.${COLUMN[step.field]} = ${cell(step.cell)}`;
    case "touch":
      return `${step.source}: set ${step.key}.TS = ${shortTime(step.ts)}`;
    case "delete":
      return `${step.source}: delete ${step.key}`;
    case "run":
      return `run ${step.source}`;
    case "resolve":
      return `resolve the open conflict on ${step.key}.${FLAG_FIELD} ${decision(step.decision)}`;
    case "resolveClosed":
      return `resolve ${step.key}'s last closed conflict ${decision(step.decision)}`;
  }
}

/** The times the steps use, shown as t1, t2... */
export const TIMES = ["2024-01-01T00:00:01.000Z", "2024-01-01T00:00:02.000Z", "2024-01-01T00:00:03.000Z"] as const;
const shortTime = (ts: string) => {
  const i = (TIMES as readonly string[]).indexOf(ts);
  return i >= 0 ? `t${i + 1}` : ts;
};
