/** A job's `filter:` rules compiled into one predicate over canonical values. */
import type { FilterRule } from "../config/job.schema.ts";
import type { Values } from "../engine/types.ts";
import { isEmptyValue } from "../engine/values.ts";

export type RecordFilter = (values: Values) => boolean;

export function compileFilter(rules: readonly FilterRule[]): RecordFilter {
  if (rules.length === 0) return () => true;
  const tests = rules.map((r) => {
    const allow = r.in ? new Set<unknown>(r.in) : null;
    const deny = r.not_in ? new Set<unknown>(r.not_in) : null;
    return (values: Values) => {
      const v = values[r.field] ?? null;
      if (r.not_empty && isEmptyValue(v)) return false;
      if (allow && !allow.has(v)) return false;
      if (deny?.has(v)) return false;
      return true;
    };
  });
  return (values) => tests.every((t) => t(values));
}
