/**
 * Secret references in configuration: `${env:NAME}` (an environment variable) and `${file:PATH}` (a file's
 * content, PATH relative to the configuration's directory, one trailing newline trimmed). `$${` writes a
 * literal `${`. Errors name the reference and where it was used, never its value.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { inspect } from "node:util";
import { z } from "zod";
import { ConfigError, type ConfigLocation } from "../errors.ts";
import { formatPath } from "./yaml.ts";

export interface ResolveContext {
  env: NodeJS.ProcessEnv;
  /** Directory that `${file:PATH}` is relative to: the configuration file's own. */
  baseDir: string;
  where: ConfigLocation;
}

const REFERENCE = /^\$\{(?:env:[A-Za-z_][A-Za-z0-9_]*|file:[^}]+)\}$/;
// `$${` first, so that an escaped reference is never read as one.
const OCCURRENCE = /\$\$\{|\$\{(env|file):([^}]*)(\})?/g;

export function isSecretReference(value: string): boolean {
  return REFERENCE.test(value);
}

/** Replaces every reference inside `value`, e.g. `http://${env:HOST}:8080`. */
export function resolveReferences(value: string, ctx: ResolveContext): string {
  return substitute(value, ctx.where, (kind, name, reference) =>
    kind === "env" ? lookUpEnv(name, reference, ctx) : readFile(name, reference, ctx),
  );
}

/**
 * Checks the references inside `value` are well formed, and resolves none: a malformed reference is a
 * mistake in the file (CONFIG_SECRET_INVALID), one that does not resolve is a matter of where Ferry runs.
 */
export function checkReferences(value: string, where: ConfigLocation): void {
  substitute(value, where, () => "");
}

/** Each reference of `value` replaced by what `lookUp` gives for it, once its syntax is checked. */
function substitute(value: string, where: ConfigLocation, lookUp: (kind: "env" | "file", name: string, reference: string) => string): string {
  return value.replace(OCCURRENCE, (match, kind: "env" | "file" | undefined, name: string | undefined, end) => {
    if (kind === undefined || name === undefined) return "${";
    const reference = `\${${kind}:${name}}`;
    if (end === undefined) throw invalid(`${match} has no closing }`, where);
    if (kind === "env" && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw invalid(`${reference} is not a valid environment variable name (letters, digits and _)`, where);
    }
    if (kind === "file" && name === "") throw invalid(`${reference} names no file`, where);
    return lookUp(kind, name, reference);
  });
}

function lookUpEnv(name: string, reference: string, ctx: ResolveContext): string {
  const found = ctx.env[name];
  if (found === undefined) {
    throw new ConfigError(
      "CONFIG_SECRET_UNRESOLVED",
      `environment variable ${name} is not set (used as ${reference}): set it before running Ferry`,
      ctx.where,
    );
  }
  return found;
}

function readFile(name: string, reference: string, ctx: ResolveContext): string {
  const path = resolve(ctx.baseDir, name);
  try {
    return readFileSync(path, "utf8").replace(/\r?\n$/, "");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : "cannot be read";
    throw new ConfigError("CONFIG_SECRET_UNRESOLVED", `${reference}: file ${path} ${reason}`, ctx.where, {
      cause: error,
    });
  }
}

function invalid(message: string, where: ConfigLocation): ConfigError {
  return new ConfigError("CONFIG_SECRET_INVALID", message, where);
}

const LITERAL = "a literal secret is not allowed here: write a reference such as ${env:NAME} or ${file:path}";

/**
 * Schema of a credential field (`token`, `password`): accepts only a single reference, checked for syntax;
 * it is resolved later, by `resolveSecret`. Marked `writeOnly`, so error messages never echo its value.
 */
export const secretRef = z
  .string({ error: "expected a secret reference such as ${env:NAME} or ${file:path}" })
  .regex(REFERENCE, {
    error: (issue) =>
      typeof issue.input === "string" && issue.input.startsWith("${")
        ? "not a valid secret reference: write ${env:NAME} (letters, digits and _) or ${file:path}"
        : LITERAL,
  })
  .meta({ description: "A secret reference: ${env:NAME} or ${file:path}.", writeOnly: true });

/** A form of a secret fit for logs: `***`, or for a URL only its scheme and host (`https://***@host/***`). */
export function redact(value: string): string {
  if (URL.canParse(value) && /^[a-z][a-z0-9+.-]*:\/\/[^/]/i.test(value)) {
    const url = new URL(value);
    return `${url.protocol}//${url.username || url.password ? "***@" : ""}${url.host}/***`;
  }
  return "***";
}

/** Every secret value this process has held (long enough to be told apart from ordinary text). */
const known = new Set<string>();

/**
 * Replaces every secret value this process has held with `***`: the last line of defence for text that
 * leaves Ferry (logs, errors kept in the state store, the DLQ, reports), in case an API echoes a credential.
 */
export function scrubSecrets(text: string): string {
  if (known.size === 0) return text;
  let out = text;
  for (const value of known) if (out.includes(value)) out = out.replaceAll(value, "***");
  return out;
}

/** A resolved secret. It prints as `[secret]` everywhere; only `reveal()` gives the value. */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
    if (value.length >= 8) known.add(value);
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return "[secret]";
  }

  toJSON(): string {
    return "[secret]";
  }

  [Symbol.toPrimitive](): string {
    return "[secret]";
  }

  [inspect.custom](): string {
    return "[secret]";
  }
}

/** Resolves a credential field's reference into a `Secret`, as late as possible. */
export function resolveSecret(reference: string, ctx: ResolveContext): Secret {
  return new Secret(resolveReferences(reference, ctx));
}

type Segment = string | number;

function matcher(secretPaths: readonly string[]) {
  const patterns = secretPaths.map((pattern) => pattern.split("."));
  return (path: readonly Segment[]) =>
    patterns.some((p) => p.length === path.length && p.every((part, i) => part === "*" || part === String(path[i])));
}

/**
 * Returns a copy of a validated configuration with the references in every string resolved. Strings at
 * `secretPaths` (dotted, `*` for any key or index: `destinations.*.token`; or a test of a path) are left as
 * references, so that no resolved credential sits in a plain object someone may log: resolve them with
 * `resolveSecret`. A reference that cannot resolve is thrown, or, given `onError`, passed to it and its
 * string left as written, so that every one is found.
 */
export function resolveTree<T>(
  value: T,
  ctx: ResolveContext,
  secretPaths: readonly string[] | ((path: readonly Segment[]) => boolean) = [],
  onError?: (error: ConfigError) => void,
): T {
  const isSecret = typeof secretPaths === "function" ? secretPaths : matcher(secretPaths);
  const walk = (node: unknown, path: Segment[]): unknown => {
    if (typeof node === "string") {
      if (isSecret(path)) return node;
      const where = { ...ctx.where, path: joinPath(ctx.where.path, path) };
      try {
        return resolveReferences(node, { ...ctx, where });
      } catch (error) {
        if (!onError || !(error instanceof ConfigError)) throw error;
        onError(error);
        return node;
      }
    }
    if (Array.isArray(node)) return node.map((item, index) => walk(item, [...path, index]));
    if (node !== null && typeof node === "object" && Object.getPrototypeOf(node) === Object.prototype) {
      return Object.fromEntries(Object.entries(node).map(([key, item]) => [key, walk(item, [...path, key])]));
    }
    return node;
  };
  return walk(value, []) as T;
}

/** `path` under the dotted path `outer` (`destinations.crm` and `token`: `destinations.crm.token`); undefined when both are empty. */
export function joinPath(outer: string | undefined, path: readonly Segment[]): string | undefined {
  const inner = formatPath(path);
  const joined = outer && inner && !inner.startsWith("[") ? `${outer}.${inner}` : (outer ?? "") + inner;
  return joined || undefined;
}
