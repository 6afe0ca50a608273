/**
 * map: a source's raw row -> the canonical values of one record. Compiled once per run from the mapping,
 * then applied to every row.
 */
import { hash } from "node:crypto";
import type { FieldSourceConfig, MappingConfig, TransformStep } from "../config/mapping.schema.ts";
import { DataError } from "../errors.ts";
import { compileTransform, type Transform } from "./transforms.ts";
import type { Value, Values } from "./types.ts";
import { type Converter, converterFor } from "./values.ts";

export type RawRow = Record<string, unknown>;

/**
 * The version of what mapping does to a value (converters, transforms). Part of every signature, so a
 * release that changes how a value maps bumps it, and every stored row is mapped and compared again once.
 */
const MAPPING_BEHAVIOUR = 2; // 2: datetimes keep the digits past milliseconds

export type MapResult = { ok: true; key: string; values: Values } | { ok: false; error: DataError };

export interface CompiledMapping {
  entity: string;
  keyField: string;
  /** The source columns this source's mapping reads, in field order. */
  columns: string[];
  /** The column holding the key, when the key is mapped from exactly one column without transforms. */
  keyColumn: string | null;
  /** The canonical fields this source provides, key first. */
  fields: string[];
  /**
   * Everything besides the row itself that decides what `map` makes of it (the source's field specs, their
   * types, the key), as a digest: two rows with equal mapped columns and equal signatures map alike.
   */
  signature: string;
  map(row: RawRow): MapResult;
  /** The record's key alone, without mapping the rest; null when `map` would reject the row for its key. */
  keyOf(row: RawRow): string | null;
}

interface FieldPlan {
  field: string;
  from: string[];
  /** The column read as is: one column, no transform (the common case, spared the transform's call). */
  direct: string | null;
  transform: Transform;
  convert: Converter;
  required: boolean;
}

function normalizeSource(spec: FieldSourceConfig): { from: string[]; steps: TransformStep[] } {
  if (typeof spec === "string") return { from: [spec], steps: [] };
  const from = Array.isArray(spec.from) ? spec.from : [spec.from];
  const steps =
    spec.transform === undefined ? [] : Array.isArray(spec.transform) ? spec.transform : [spec.transform];
  return { from, steps };
}

/** One plan per field the source maps, the key's first. */
function planFields(mapping: MappingConfig, spec: MappingConfig["sources"][string]): FieldPlan[] {
  const ordered = [mapping.key, ...Object.keys(spec).filter((f) => f !== mapping.key)];
  return ordered.map((field) => {
    const { from, steps } = normalizeSource(spec[field]!);
    const cfg = mapping.fields[field]!;
    return {
      field,
      from,
      direct: from.length === 1 && steps.length === 0 ? from[0]! : null,
      transform: compileTransform(steps, from.length),
      convert: converterFor(cfg.type),
      required: cfg.required || field === mapping.key,
    };
  });
}

/** One field's canonical value from the row; throws what its transform or type refuses. */
function evaluate(p: FieldPlan, row: RawRow): Value {
  return p.convert(
    p.direct !== null
      ? row[p.direct]
      : p.from.length === 1
        ? p.transform([row[p.from[0]!]])
        : p.transform(p.from.map((c) => row[c])),
  );
}

/** A field whose transform or type refused the row's value. */
function refused(p: FieldPlan, e: unknown): DataError {
  const message = e instanceof Error ? e.message : String(e);
  const code = e instanceof DataError ? e.code : "DATA_BAD_VALUE";
  return new DataError(code, `${p.field} (${p.from.join(", ")}): ${message}`, { cause: e });
}

/** A required field (the key is one) whose value is empty. */
function missing(p: FieldPlan, keyField: string): DataError {
  const what = p.field === keyField ? "the key" : "a required field";
  return new DataError(
    p.field === keyField ? "DATA_KEY_MISSING" : "DATA_REQUIRED_MISSING",
    `${p.field} (${p.from.join(", ")}) is empty; it is ${what}`,
  );
}

function mapper(plans: readonly FieldPlan[], keyField: string): (row: RawRow) => MapResult {
  return (row) => {
    const values: Values = {};
    for (const p of plans) {
      let v: Value;
      try {
        v = evaluate(p, row);
      } catch (e) {
        return { ok: false, error: refused(p, e) };
      }
      if (v === null && p.required) return { ok: false, error: missing(p, keyField) };
      values[p.field] = v;
    }
    return { ok: true, key: String(values[keyField]), values };
  };
}

function keyReader(keyPlan: FieldPlan): (row: RawRow) => string | null {
  return (row) => {
    try {
      const v = evaluate(keyPlan, row);
      return v === null ? null : String(v);
    } catch {
      return null;
    }
  };
}

/**
 * Throws a plain Error with a message for a structurally wrong transform list; the loader validates every
 * mapping with this function so the user sees it with the file and line.
 */
export function compileMapping(mapping: MappingConfig, sourceName: string): CompiledMapping {
  const spec = mapping.sources[sourceName];
  if (!spec) throw new Error(`mapping ${mapping.entity} has no source named "${sourceName}"`);
  const plans = planFields(mapping, spec);
  const keySpec = normalizeSource(spec[mapping.key]!);
  return {
    entity: mapping.entity,
    keyField: mapping.key,
    columns: [...new Set(plans.flatMap((p) => p.from))],
    keyColumn: keySpec.from.length === 1 && keySpec.steps.length === 0 ? keySpec.from[0]! : null,
    fields: plans.map((p) => p.field),
    signature: hash(
      "sha1",
      JSON.stringify([
        MAPPING_BEHAVIOUR,
        mapping.key,
        plans.map((p) => [p.field, spec[p.field], mapping.fields[p.field]!.type, p.required]),
      ]),
      "base64",
    ),
    map: mapper(plans, mapping.key),
    keyOf: keyReader(plans[0]!),
  };
}
