import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

export type JsonSchema = z.core.JSONSchema.JSONSchema;

/**
 * The JSON Schema of what a user may write in a file validated by `schema` (its input side: fields with a
 * default are optional), for editors to complete and check `jobs/*.yaml`.
 */
export function toJsonSchema(schema: z.ZodType, meta: { title: string; id: string }): JsonSchema {
  const { $schema, ...rest } = inputJsonSchema(schema);
  return { $schema, $id: meta.id, title: meta.title, ...rest };
}

/** Writes `<dir>/<name>.schema.json` for each schema and returns the paths written. */
export async function writeJsonSchemas(dir: string, schemas: Record<string, z.ZodType>): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, schema] of Object.entries(schemas)) {
    const path = join(dir, `${name}.schema.json`);
    const json = toJsonSchema(schema, { title: `Ferry ${name}`, id: `${name}.schema.json` });
    await writeFile(path, `${JSON.stringify(json, null, 2)}\n`);
    written.push(path);
  }
  return written;
}

// A type JSON Schema cannot express (a date, a custom check) becomes "any value" rather than failing the
// whole export: the loader still validates it.
export function inputJsonSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
}

type Segment = string | number;

/**
 * The part of `root` that describes the value at `path` of `data`. Where the schema is a union, the branch
 * is chosen by the data (a discriminator value, or the only branch of the data's type); undefined when
 * the path leaves the schema or the branch is ambiguous.
 */
export function subschemaAt(
  root: JsonSchema,
  path: readonly Segment[],
  data: unknown,
): JsonSchema | undefined {
  let node: JsonSchema | undefined = root;
  let value = data;
  for (const segment of path) {
    const narrowed: JsonSchema | undefined = node && narrow(root, node, value);
    node = narrowed && child(narrowed, segment);
    value =
      value !== null && typeof value === "object" ? (value as Record<Segment, unknown>)[segment] : undefined;
    if (!node) return undefined;
  }
  return node;
}

/**
 * The paths of `data` whose schema marks them write-only: the credential fields (`secretRef`), wherever
 * they appear. Where a union's branch cannot be told from the data, a value counts as a secret when any
 * branch says so, so that a credential is never taken for plain text.
 */
export function secretPathsOf(root: JsonSchema, data: unknown): Segment[][] {
  const found: Segment[][] = [];
  const visit = (node: JsonSchema, value: unknown, path: Segment[]) => {
    const branches = branchesFor(root, node, value);
    if (typeof value === "string") {
      if (branches.some((b) => b.writeOnly === true)) found.push(path);
      return;
    }
    if (value === null || typeof value !== "object") return;
    for (const [key, item] of Object.entries(value)) {
      const segment = Array.isArray(value) ? Number(key) : key;
      for (const branch of branches) {
        const sub = child(branch, segment);
        if (sub) visit(sub, item, [...path, segment]);
      }
    }
  };
  visit(root, data, []);
  const unique = new Map(found.map((p) => [JSON.stringify(p), p]));
  return [...unique.values()];
}

/** The branches of `node` that may describe `value`: all of a union's, or those its discriminator picks. */
function branchesFor(root: JsonSchema, node: JsonSchema, value: unknown, depth = 0): JsonSchema[] {
  const s = resolve(root, node);
  const variants = (s.anyOf ?? s.oneOf)?.map((v) => resolve(root, v));
  const parts = s.allOf?.map((v) => resolve(root, v)) ?? [];
  if (!variants || depth > 8) return [s, ...parts];
  const discriminator = discriminatorOf(root, variants);
  const chosen = discriminator && (value as Record<string, unknown> | null)?.[discriminator.key];
  const matching = discriminator
    ? variants.filter((v) => literals(root, v.properties?.[discriminator.key])?.includes(chosen as string))
    : variants;
  return [s, ...parts, ...matching.flatMap((v) => branchesFor(root, v, value, depth + 1))];
}

/** The keys allowed in the mapping at `path`, when the schema lists them. */
export function allowedKeys(root: JsonSchema, path: readonly Segment[], data: unknown): string[] | undefined {
  const node = subschemaAt(root, path, data);
  const properties = node && narrow(root, node, valueAt(data, path))?.properties;
  return properties && Object.keys(properties);
}

/** The value at `path` of parsed data, or undefined. */
export function valueAt(data: unknown, path: readonly Segment[]): unknown {
  let value = data;
  for (const segment of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<Segment, unknown>)[segment];
  }
  return value;
}

/** The JSON type a value must have (`string`, `integer`...), looking through refs and `X or null`. */
export function jsonType(root: JsonSchema, node: JsonSchema): string | undefined {
  const resolved = resolve(root, node);
  const variants = (resolved.anyOf ?? resolved.oneOf)?.filter((v) => resolve(root, v).type !== "null");
  if (variants?.length === 1 && variants[0]) return jsonType(root, variants[0]);
  return typeof resolved.type === "string" ? resolved.type : undefined;
}

/** What `node` accepts, in plain words: "a whole number ≥ 1", "one of append, upsert". */
export function describeJsonSchema(root: JsonSchema, node: JsonSchema, depth = 0): string | undefined {
  const s = resolve(root, node);
  const variants = s.anyOf ?? s.oneOf;
  if (variants && depth < 4) {
    const discriminator = discriminatorOf(root, variants);
    if (discriminator)
      return `a mapping whose ${discriminator.key} is one of ${discriminator.values.join(", ")}`;
    const words = variants.map((v) => describeJsonSchema(root, v, depth + 1));
    return words.every(Boolean) ? [...new Set(words)].join(" or ") : undefined;
  }
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return `one of ${s.enum.map(String).join(", ")}`;
  switch (s.type) {
    case "string":
      return describeString(s);
    case "integer":
    case "number":
      return [s.type === "integer" ? "a whole number" : "a number", ...bounds(s)].join(" ");
    case "boolean":
      return "true or false";
    case "null":
      return "nothing";
    case "array":
      return sized("a list", s.minItems, s.maxItems, "item");
    case "object":
      return depth > 0 && s.required?.length ? `a mapping with ${s.required.join(", ")}` : "a mapping";
    default:
      return undefined;
  }
}

const formats: Record<string, string> = {
  email: "an email address",
  uri: "a URL",
  url: "a URL",
  uuid: "a UUID",
  "date-time": "a date and time such as 2024-01-31T09:00:00Z",
  date: "a date such as 2024-01-31",
  time: "a time such as 09:00:00",
  duration: "an ISO 8601 duration such as PT15M",
  ipv4: "an IPv4 address",
  ipv6: "an IPv6 address",
};

function describeString(s: JsonSchema): string {
  if (s.format) return formats[s.format] ?? `text in ${s.format} format`;
  if (s.pattern) return `text matching the pattern ${s.pattern}`;
  if (s.minLength === 1 && s.maxLength === undefined) return "non-empty text";
  return sized("text", s.minLength, s.maxLength, "character");
}

function sized(noun: string, min: number | undefined, max: number | undefined, unit: string): string {
  const units = (n: number) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  if (min !== undefined && min > 0 && max !== undefined) return `${noun} of ${min} to ${units(max)}`;
  if (min !== undefined && min > 0) return `${noun} of at least ${units(min)}`;
  if (max !== undefined) return `${noun} of at most ${units(max)}`;
  return noun;
}

function bounds(s: JsonSchema): string[] {
  const finite = (n: unknown): n is number => typeof n === "number" && Math.abs(n) < Number.MAX_SAFE_INTEGER;
  if (finite(s.minimum) && finite(s.maximum)) return [`between ${s.minimum} and ${s.maximum}`];
  const low = finite(s.exclusiveMinimum)
    ? `> ${s.exclusiveMinimum}`
    : finite(s.minimum)
      ? `≥ ${s.minimum}`
      : "";
  const high = finite(s.exclusiveMaximum)
    ? `< ${s.exclusiveMaximum}`
    : finite(s.maximum)
      ? `≤ ${s.maximum}`
      : "";
  return low && high ? [low, "and", high] : [low || high].filter(Boolean);
}

function resolve(root: JsonSchema, node: JsonSchema): JsonSchema {
  let current = node;
  for (let hops = 0; current.$ref !== undefined && hops < 20; hops++) {
    if (current.$ref === "#") current = root;
    else {
      const name = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(current.$ref)?.[1];
      const target = name === undefined ? undefined : root.$defs?.[decodeURIComponent(name)];
      if (!target) return current;
      current = target;
    }
  }
  return current;
}

function child(node: JsonSchema, segment: Segment): JsonSchema | undefined {
  const sub =
    typeof segment === "number" ? (node.prefixItems?.[segment] ?? node.items) : node.properties?.[segment];
  const fallback = typeof segment === "string" ? node.additionalProperties : undefined;
  const found = sub ?? fallback;
  if (found === undefined || typeof found === "boolean" || Array.isArray(found)) {
    return node.allOf?.map((part) => child(part, segment)).find(Boolean);
  }
  return found;
}

function narrow(root: JsonSchema, node: JsonSchema, value: unknown): JsonSchema | undefined {
  const s = resolve(root, node);
  const variants = (s.anyOf ?? s.oneOf)?.map((v) => resolve(root, v));
  if (!variants) return s;
  const discriminator = discriminatorOf(root, variants);
  if (discriminator) {
    const chosen = (value as Record<string, unknown> | null)?.[discriminator.key];
    return variants.find((v) =>
      literals(root, v.properties?.[discriminator.key])?.includes(chosen as string),
    );
  }
  const kind =
    value === null
      ? "null"
      : Array.isArray(value)
        ? "array"
        : typeof value === "object"
          ? "object"
          : undefined;
  const matching = variants.filter((v) => v.type === kind);
  return matching.length === 1 && matching[0] ? narrow(root, matching[0], value) : undefined;
}

function discriminatorOf(
  root: JsonSchema,
  variants: JsonSchema[],
): { key: string; values: string[] } | undefined {
  const first = variants[0] && resolve(root, variants[0]);
  for (const key of Object.keys(first?.properties ?? {})) {
    const values = variants.map((v) => literals(root, resolve(root, v).properties?.[key]));
    const flat = values.flat();
    if (values.every((list) => list !== undefined) && new Set(flat).size === flat.length) {
      return { key, values: flat.map(String) };
    }
  }
  return undefined;
}

/** The values a property accepts when it is a literal or an enum. */
function literals(root: JsonSchema, property: JsonSchema | boolean | undefined): unknown[] | undefined {
  if (typeof property !== "object") return undefined;
  const s = resolve(root, property);
  return s.const !== undefined ? [s.const] : s.enum;
}
