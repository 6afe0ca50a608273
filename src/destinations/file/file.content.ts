/**
 * What the `file` destination writes, as plain values: which files a batch makes (one per entity), their
 * names and their text. No I/O and no clock: the date comes in as an argument.
 */
import { stringify } from "csv-stringify/sync";
import type { Value } from "../../engine/types.ts";
import type { DeliveryItem } from "../destination.ts";
import { type FileDestinationConfig, type FileFormatConfig, type FileNamePlaceholder, META_COLUMNS } from "./file.config.ts";

/** Digits of `{first}` and `{last}`: outbox ids are zero-padded to this width so that names sort by id. */
export const ID_WIDTH = 12;

/** Rows handed to csv-stringify at a time, and lines per chunk of JSONL. */
const ROWS_PER_CHUNK = 1000;

export interface PlannedFile {
  name: string;
  entity: string;
  items: readonly DeliveryItem[];
  columns: string[];
}

/** `YYYYMMDD` of a time, in UTC. */
export function utcDate(at: Date): string {
  return at.toISOString().slice(0, 10).replaceAll("-", "");
}

/** The template with its placeholders filled; a value is kept to letters, digits, `.`, `_` and `-`. */
export function renderFileName(template: string, values: Record<FileNamePlaceholder, string>): string {
  return template.replace(/\{([a-z]+)\}/g, (whole, name: string) => {
    const value = values[name as FileNamePlaceholder];
    return value === undefined ? whole : value.replace(/[^A-Za-z0-9._-]/g, "_");
  });
}

/**
 * The configured columns, else every property of the items in the order first seen, and the key property
 * first when no item lists it (a file of deletes whose records carry no properties).
 */
export function columnsOf(items: readonly DeliveryItem[], configured: readonly string[] | undefined): string[] {
  if (configured) return [...configured];
  const seen = new Set<string>();
  for (const item of items) for (const name of Object.keys(item.properties)) seen.add(name);
  const keys = [...new Set(items.map((i) => i.match.property))].filter((k) => k !== "" && !seen.has(k));
  // A property named like one of Ferry's own columns would collide with it; such names are not written.
  return [...keys, ...seen].filter((name) => !(META_COLUMNS as readonly string[]).includes(name));
}

/** The files a batch makes: one per entity, in the order the entities first appear. */
export function planFiles(
  destination: string,
  config: Pick<FileDestinationConfig, "file_name" | "columns" | "format">,
  items: readonly DeliveryItem[],
  at: Date,
): PlannedFile[] {
  const byEntity = new Map<string, DeliveryItem[]>();
  for (const item of items) {
    const group = byEntity.get(item.entity);
    if (group) group.push(item);
    else byEntity.set(item.entity, [item]);
  }
  const date = utcDate(at);
  const ext = config.format.format;
  return [...byEntity].map(([entity, group]) => {
    let first = group[0]!.outboxId;
    let last = first;
    for (const item of group) {
      first = Math.min(first, item.outboxId);
      last = Math.max(last, item.outboxId);
    }
    const pad = (id: number) => String(id).padStart(ID_WIDTH, "0");
    const name = renderFileName(config.file_name, { destination, entity, first: pad(first), last: pad(last), date, ext });
    return { name, entity, items: group, columns: columnsOf(group, config.columns) };
  });
}

const FORMULA_START = /^[=+\-@\t\r]/;
// Decimals travel as exact strings (`-12.50`): a plain number is not a formula and must stay a number.
const PLAIN_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A cell a spreadsheet would run as a formula gets a leading `'`, which makes it text. */
export function escapeFormula(cell: string): string {
  return FORMULA_START.test(cell) && !PLAIN_NUMBER.test(cell) ? `'${cell}` : cell;
}

/** The values of one line, Ferry's columns first. A delete carries only the key; other columns are absent. */
function lineValues(item: DeliveryItem, columns: readonly string[]): Map<string, Value> {
  const out = new Map<string, Value>([
    ["_op", item.op],
    ["_key", item.key],
    ["_idempotency_key", item.idempotencyKey],
  ]);
  for (const column of columns) {
    if (item.op === "delete") {
      if (column === item.match.property) out.set(column, item.match.value);
    } else {
      out.set(column, item.properties[column] ?? null);
    }
  }
  return out;
}

function cellText(value: Value | undefined): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/**
 * The file's text, in chunks of a thousand lines or so: CSV quoted where a cell holds the delimiter, a quote
 * or a line break (a quote doubled inside), or JSON Lines. Lines end with `\n`.
 */
export function* renderFile(
  file: Pick<PlannedFile, "items" | "columns">,
  format: FileFormatConfig,
  escapeFormulas: boolean,
): Generator<string> {
  const { items, columns } = file;
  if (format.format === "jsonl") {
    for (let i = 0; i < items.length; i += ROWS_PER_CHUNK) {
      let text = "";
      for (const item of items.slice(i, i + ROWS_PER_CHUNK)) {
        text += `${JSON.stringify(Object.fromEntries(lineValues(item, columns)))}\n`;
      }
      yield text;
    }
    return;
  }
  const csv = (rows: string[][]) => stringify(rows, { delimiter: format.delimiter, record_delimiter: "\n" });
  const names = [...META_COLUMNS, ...columns];
  if (format.header) yield csv([names]);
  for (let i = 0; i < items.length; i += ROWS_PER_CHUNK) {
    const rows = items.slice(i, i + ROWS_PER_CHUNK).map((item) => {
      const values = lineValues(item, columns);
      return names.map((name) => {
        const text = cellText(values.get(name));
        return escapeFormulas ? escapeFormula(text) : text;
      });
    });
    yield csv(rows);
  }
}
