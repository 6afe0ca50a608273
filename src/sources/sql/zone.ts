/**
 * Date-times stored without a zone (DATETIME, TIMESTAMP WITHOUT TIME ZONE, Oracle DATE) are wall-clock
 * readings in a zone the connection declares. They become ISO 8601 UTC here, with the fraction the
 * database gave (up to microseconds, or SQL Server's 100 ns) kept as written.
 *
 * Around a daylight-saving change: a wall-clock time that happens twice (the autumn hour) is read as the
 * first of the two; one that never happens (the spring gap) is read with the offset in force before the
 * gap, i.e. as if the clocks had not yet changed. Both are stated in the README.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(zone, f);
  }
  return f;
}

/** The zone's offset from UTC at an instant, in milliseconds (east positive). */
export function zoneOffset(zone: string, instantMs: number): number {
  if (zone === "UTC" || zone === "Etc/UTC") return 0;
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(new Date(instantMs))) {
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  }
  const asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return asUtc - Math.floor(instantMs / 1000) * 1000;
}

const WALL = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/;

/** `zone|YYYY-MM-DDTHH:MM` (wall) -> the same minute in UTC, or null for an impossible date. */
const minutes = new Map<string, string | null>();

function utcMinute(zone: string, y: string, mo: string, d: string, h: string, mi: string): string | null {
  const wall = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi));
  // Date.UTC rolls 2024-02-30 over into March: a reading that does not come back unchanged is not a date.
  if (Number.isNaN(wall) || new Date(wall).toISOString().slice(0, 16) !== `${y}-${mo}-${d}T${h}:${mi}`) return null;
  if (zone === "UTC" || zone === "Etc/UTC") return `${y}-${mo}-${d}T${h}:${mi}`;
  // Offsets in force a day either side cover any change nearby: each gives a candidate instant, kept when
  // the zone really shows this wall time then. The earliest consistent one is the first of a repeated
  // hour; when none is (a gap), the offset from before the change is used.
  const before = zoneOffset(zone, wall - 86_400_000);
  const offsets = [before, zoneOffset(zone, wall), zoneOffset(zone, wall + 86_400_000)];
  const consistent = offsets.map((o) => wall - o).filter((t) => t + zoneOffset(zone, t) === wall);
  const instant = consistent.length > 0 ? Math.min(...consistent) : wall - before;
  return new Date(instant).toISOString().slice(0, 16);
}

/**
 * `2024-03-10 14:30:00.123456` read in `zone` -> `2024-03-10T13:30:00.123456Z` (Europe/Paris). Null when the
 * text is not a wall-clock date-time. Offsets are whole minutes in every zone in use, so the conversion is
 * worked out once per minute of wall-clock time and reused: a table of timestamps costs a lookup per value.
 */
export function wallClockToUtc(text: string, zone: string): string | null {
  const m = WALL.exec(text);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac] = m;
  if (Number(s) > 59) return null;
  if (zone === "UTC" || zone === "Etc/UTC") {
    // The common case, spared the cache: the reading is the answer once it is a real calendar time.
    const month = Number(mo);
    const day = Number(d);
    const year = Number(y);
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
    if (month < 1 || month > 12 || day < 1 || day > days || Number(h) > 23 || Number(mi) > 59) return null;
    return `${text.slice(0, 10)}T${text.slice(11)}Z`;
  }
  const key = `${zone}|${y}-${mo}-${d}T${h}:${mi}`;
  let minute = minutes.get(key);
  if (minute === undefined) {
    if (minutes.size >= 50_000) minutes.clear();
    minute = utcMinute(zone, y!, mo!, d!, h!, mi!);
    minutes.set(key, minute);
  }
  return minute === null ? null : `${minute}:${s}${frac ? `.${frac}` : ""}Z`;
}

const OFFSET = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}(?::?\d{2})?)$/;

/**
 * A date-time with an offset, as PostgreSQL (`2024-01-01 10:00:00.123456+02`) or Oracle print it, as ISO
 * 8601 UTC with its fraction kept. Null for anything else.
 */
export function offsetToUtc(text: string): string | null {
  const m = OFFSET.exec(text);
  if (!m) return null;
  const [, date, time, frac, zone] = m;
  const z = zone === "Z" ? "Z" : /^[+-]\d{2}$/.test(zone!) ? `${zone}:00` : zone!.replace(/^([+-]\d{2})(\d{2})$/, "$1:$2");
  const instant = Date.parse(`${date}T${time}${z}`);
  if (Number.isNaN(instant)) return null;
  return `${new Date(instant).toISOString().slice(0, 19)}${frac ? `.${frac}` : ""}Z`;
}
