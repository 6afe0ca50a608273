import * as YAML from "yaml";
import type { z } from "zod";
import { type ConfigCode, ConfigError, formatLocation } from "../errors.ts";
import {
  allowedKeys,
  describeJsonSchema,
  inputJsonSchema,
  type JsonSchema,
  jsonType,
  subschemaAt,
  valueAt,
} from "./json-schema.ts";

/** One problem found in a configuration file, as listed in `ConfigError.details.issues`. */
export interface ConfigIssue {
  path: string;
  line?: number;
  column?: number;
  message: string;
}

type Segment = string | number;
type Position = { line: number; column: number };

/**
 * Parses one YAML configuration file and validates it against `schema`.
 * Throws `ConfigError` with code `CONFIG_YAML_SYNTAX` when the YAML cannot be read, and `CONFIG_INVALID` when
 * the file is empty or does not match the schema; `details.issues` then lists every problem, in file order.
 */
export function parseConfigFile<S extends z.ZodType>(file: string, text: string, schema: S): z.output<S> {
  const lineCounter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw fail(
      file,
      "CONFIG_YAML_SYNTAX",
      doc.errors.map((error) => syntaxIssue(error, text)),
    );
  }
  if (doc.contents === null || (YAML.isScalar(doc.contents) && doc.contents.value === null)) {
    throw fail(file, "CONFIG_INVALID", [{ path: "", message: "file is empty" }]);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    const message = `YAML syntax error: ${(error as Error).message}`;
    throw new ConfigError("CONFIG_YAML_SYNTAX", message, { file }, { cause: error });
  }
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const context: IssueContext = {
    json: jsonSchemaOf(schema),
    data,
    locate: (path, atKey) => locateNode(doc, lineCounter, path, atKey),
  };
  const issues = result.error.issues
    .flatMap((issue) => describeIssue(issue, context))
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  throw fail(file, "CONFIG_INVALID", issues);
}

function jsonSchemaOf(schema: z.ZodType): JsonSchema | undefined {
  try {
    return inputJsonSchema(schema);
  } catch {
    return undefined;
  }
}

function fail(file: string, code: ConfigCode, issues: ConfigIssue[]): ConfigError {
  const [first, ...rest] = issues;
  const where = ({ line, column, path }: ConfigIssue) => ({ file, line, column, path: path || undefined });
  const lines = rest.map((issue) => `${formatLocation(where(issue))}: ${issue.message}`);
  return new ConfigError(code, [first?.message ?? "invalid", ...lines].join("\n"), first && where(first), {
    details: { issues },
  });
}

function syntaxIssue(error: YAML.YAMLError, text: string): ConfigIssue {
  const issue = { path: "", line: error.linePos?.[0].line, column: error.linePos?.[0].col };
  if (error.code === "DUPLICATE_KEY") {
    const key = /^\s*("[^"]*"|'[^']*'|[^:#\n]+?)\s*:/.exec(text.slice(error.pos[0]))?.[1] ?? "";
    const quoted = /^["']/.test(key) ? key : `"${key}"`;
    return { ...issue, message: `key ${quoted} appears twice in the same mapping: keep only one` };
  }
  if (error.code === "MULTIPLE_DOCS") {
    return { ...issue, message: "the file holds more than one YAML document: remove the second ---" };
  }
  // The parser's pretty message quotes the offending source lines, which may hold a secret: keep its first sentence.
  const plain = /^(.*?) at line \d+, column \d+/s.exec(error.message)?.[1] ?? error.message.split("\n")[0];
  return { ...issue, message: `YAML syntax error: ${plain}` };
}

function locateNode(
  doc: YAML.Document,
  counter: YAML.LineCounter,
  path: readonly Segment[],
  atKey: boolean,
): Position | undefined {
  const start = (node: unknown): Position | undefined => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    if (!range) return undefined;
    const { line, col } = counter.linePos(range[0]);
    return { line, column: col };
  };
  let node: unknown = doc.contents;
  let position = start(node);
  for (const [index, segment] of path.entries()) {
    if (YAML.isAlias(node)) node = node.resolve(doc);
    if (YAML.isMap(node)) {
      const pair = node.items.find(
        (item) => String(YAML.isScalar(item.key) ? item.key.value : item.key) === String(segment),
      );
      if (!pair) break;
      // Point at a value written on the key's own line; a block collection or an empty value points at its key.
      const value = pair.value;
      const inline =
        (YAML.isScalar(value) && value.source !== "") ||
        YAML.isAlias(value) ||
        (YAML.isCollection(value) && value.flow === true);
      const atValue = inline && !(atKey && index === path.length - 1);
      position = (atValue ? start(value) : undefined) ?? start(pair.key) ?? position;
      node = value;
    } else if (YAML.isSeq(node) && typeof segment === "number" && node.items[segment] !== undefined) {
      node = node.items[segment];
      position = start(node) ?? position;
    } else {
      break;
    }
  }
  return position;
}

/** Formats an issue path as `source.tables[2].name`; keys that are not plain words are quoted. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (typeof segment === "string" && /^[A-Za-z_][\w-]*$/.test(segment))
      out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

interface IssueContext {
  /** The schema as JSON Schema, to say in plain words what a field expects; undefined if it cannot be built. */
  json: JsonSchema | undefined;
  data: unknown;
  locate: (path: readonly Segment[], atKey: boolean) => Position | undefined;
}

function describeIssue(issue: z.core.$ZodIssue, context: IssueContext): ConfigIssue[] {
  const { json, data, locate } = context;
  const path = issue.path.map((segment) => (typeof segment === "number" ? segment : String(segment)));
  if (issue.code === "invalid_union") {
    // When only one branch accepts the value's type, its own issues say best what is wrong.
    const fitting = issue.errors.filter(
      (branch) => !branch.some((e) => e.code === "invalid_type" && e.path.length === 0),
    );
    if (fitting.length === 1 && fitting[0]?.length) {
      return fitting[0].flatMap((inner) =>
        describeIssue({ ...inner, path: [...path, ...inner.path] }, context),
      );
    }
  }
  if (issue.code === "unrecognized_keys") {
    const allowed = json && allowedKeys(json, path, data);
    return issue.keys.map((key) => {
      const guess = allowed && closest(key, allowed);
      const hint = guess ? ` (did you mean "${guess}"?)` : "";
      const list = allowed ? `; allowed keys: ${allowed.join(", ")}` : "";
      return {
        path: formatPath([...path, key]),
        ...locate([...path, key], true),
        message: `unknown key "${key}"${hint}${list}`,
      };
    });
  }
  const at = { path: formatPath(path), ...locate(path, false) };
  if (issue.code === "custom") return [{ ...at, message: issue.message }];
  const target = json && subschemaAt(json, path, data);
  const parent = valueAt(data, path.slice(0, -1));
  const last = path.at(-1);
  // Zod's own messages start like this; any other message was written by the schema's author and is kept.
  const custom = !/^(Invalid|Too (big|small):|Unrecognized key)/.test(issue.message);
  const described = json && target && describeJsonSchema(json, target);
  const expected = custom ? issue.message : `expected ${expectedOf(issue, described)}`;
  if (typeof last === "string" && isPlainObject(parent) && !Object.hasOwn(parent, last)) {
    const about = target?.description && !custom ? ` (${target.description})` : "";
    return [{ ...at, message: `missing required key "${last}": ${expected}${about}` }];
  }
  if (custom) return [{ ...at, message: expected }];
  const value = valueAt(data, path);
  if (target?.writeOnly) return [{ ...at, message: `${expected}, got ${kindOf(value)}` }];
  const wanted =
    json && target ? jsonType(json, target) : issue.code === "invalid_type" ? issue.expected : "";
  return [{ ...at, message: `${expected}, got ${show(value)}${hint(wanted, value)}` }];
}

function expectedOf(issue: z.core.$ZodIssue, described: string | undefined): string {
  if (issue.code === "invalid_union" && "options" in issue && Array.isArray(issue.options)) {
    return `one of ${issue.options.map(String).join(", ")}`;
  }
  if (described) return described;
  switch (issue.code) {
    case "invalid_type":
      return typeWords[issue.expected] ?? issue.expected;
    case "invalid_value":
      return issue.values.length === 1
        ? JSON.stringify(issue.values[0])
        : `one of ${issue.values.map(String).join(", ")}`;
    case "too_small":
    case "too_big": {
      const bound = issue.code === "too_small" ? `at least ${issue.minimum}` : `at most ${issue.maximum}`;
      const unit = { string: " characters", array: " items" }[issue.origin as string] ?? "";
      return `${typeWords[issue.origin] ?? issue.origin} of ${bound}${unit}`;
    }
    case "invalid_format":
      return `text in ${issue.format} format`;
    case "not_multiple_of":
      return `a multiple of ${issue.divisor}`;
    case "invalid_union": {
      const words = issue.errors.map(([first]) =>
        first?.code === "invalid_type" ? typeWords[first.expected] : undefined,
      );
      return words.every(Boolean) ? words.join(" or ") : "a valid value";
    }
    default:
      return issue.message.toLowerCase();
  }
}

const typeWords: Record<string, string> = {
  string: "text",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  object: "a mapping",
  array: "a list",
};

function hint(wanted: string | undefined, value: unknown): string {
  if (
    /^(number|integer|int)$/.test(wanted ?? "") &&
    typeof value === "string" &&
    value.trim() !== "" &&
    Number.isFinite(Number(value))
  ) {
    return " (it is in quotes, so YAML reads it as text: remove the quotes)";
  }
  if (wanted === "string" && (typeof value === "number" || typeof value === "boolean")) {
    return ` (YAML reads it as ${typeof value === "number" ? "a number" : "true/false"}: put it in quotes to keep it as text)`;
  }
  if (wanted === "boolean" && typeof value === "string" && /^(yes|no|y|n|on|off)$/i.test(value)) {
    return " (write true or false)";
  }
  return "";
}

/** A value as the user wrote it, trimmed; a structure only by its shape. */
function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 39)}…` : value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (isPlainObject(value) && Object.keys(value).length > 0) {
    const keys = Object.keys(value);
    return `a mapping with ${keys.slice(0, 5).join(", ")}${keys.length > 5 ? "…" : ""}`;
  }
  return kindOf(value);
}

/** What sort of value it is, without the value: for fields that may hold a secret. */
function kindOf(value: unknown): string {
  if (Array.isArray(value))
    return value.length === 1 ? "a list of 1 item" : `a list of ${value.length} items`;
  if (isPlainObject(value)) return Object.keys(value).length === 0 ? "an empty mapping" : "a mapping";
  if (value === null || value === undefined || value === "") return "an empty value";
  return (
    { string: "text", number: "a number", boolean: "true/false" }[typeof value as string] ?? typeof value
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function closest(key: string, candidates: readonly string[]): string | undefined {
  const scored = candidates.map((c) => ({ c, d: editDistance(key.toLowerCase(), c.toLowerCase()) }));
  const best = scored.sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.max(1, Math.floor(Math.max(key.length, best.c.length) / 3))
    ? best.c
    : undefined;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(
        (row[j] ?? 0) + 1,
        (next[j - 1] ?? 0) + 1,
        (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    row = next;
  }
  return row[b.length] ?? 0;
}
