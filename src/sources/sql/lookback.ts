/**
 * The lower bound of a cursor read: the last committed cursor value minus the lookback window, written in
 * the same layout as the stored value so that the database compares like with like.
 */

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number | null {
  const m = /^(\d+)\s*(s|m|h|d)$/.exec(text.trim());
  return m ? Number(m[1]) * UNITS[m[2]!]! : null;
}

const LAYOUT = /^(\d{4}-\d{2}-\d{2})([T ])(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

export function lowerBound(cursor: string | number, lookback: string | number | null): string | number {
  if (lookback === null || lookback === 0 || lookback === "0") return cursor;
  if (typeof cursor === "number") {
    const n = typeof lookback === "number" ? lookback : Number(lookback);
    if (!Number.isFinite(n)) throw new Error(`lookback "${lookback}" must be a number for a numeric cursor`);
    return cursor - n;
  }
  const ms = typeof lookback === "number" ? lookback * 1000 : parseDuration(lookback);
  if (ms === null) throw new Error(`lookback "${lookback}" must be a duration such as 30s, 10m, 2h or 1d`);
  const m = LAYOUT.exec(cursor);
  if (!m) {
    if (/^\d{4}-\d{2}-\d{2}$/.test(cursor)) {
      return new Date(Date.parse(`${cursor}T00:00:00Z`) - ms).toISOString().slice(0, 10);
    }
    throw new Error(
      `cursor value "${cursor}" is not a date and time; use a numeric lookback for other cursors`,
    );
  }
  const [, date, sep, time, frac = "", zone = ""] = m;
  // Keep the value's own zone: the shifted instant is printed in the cursor's offset, so that a text column
  // (SQLite) compares like with like. Printing a `-05:00` value in UTC would raise the bound and skip rows.
  // PostgreSQL prints whole-hour offsets as `+02`.
  const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
  const offset = z ? (z[1] === "-" ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3] ?? 0)) * 60_000 : 0;
  const utc = Date.parse(`${date}T${time}${frac}Z`) - offset;
  const iso = new Date(utc - ms + offset).toISOString();
  const fraction = frac === "" ? "" : iso.slice(19, 23).padEnd(frac.length, "0").slice(0, frac.length);
  return `${iso.slice(0, 10)}${sep}${iso.slice(11, 19)}${fraction}${zone}`;
}
