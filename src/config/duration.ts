/**
 * Durations in configuration (timeouts, stability windows): `500ms`, `30s`, `10m`, `1h`. Validated as text
 * by the schema, turned into milliseconds where they are used.
 */
import { z } from "zod";

const DURATION = /^(\d+)\s*(ms|s|m|h|d)$/;
const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function durationSchema(what: string, fallback: string) {
  return z.string().regex(DURATION, "expected a duration such as 500ms, 30s, 10m, 1h or 7d").default(fallback).describe(what);
}

/** Milliseconds of a duration the schema accepted. */
export function durationMs(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${text}`);
  return Number(m[1]) * UNITS[m[2]!]!;
}
