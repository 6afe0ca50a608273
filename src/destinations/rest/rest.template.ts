/**
 * The `rest` destination's template language: a template is any YAML value whose strings may hold
 * placeholders written `{{name}}`. A string that is exactly one placeholder takes the value's JSON type (an
 * object, a number, null); any other string is text, each placeholder replaced by the value as text
 * (objects as JSON, null as nothing). In a URL path every value is percent-encoded. There are no loops, no
 * conditions and no escapes: what a template cannot say, the API's own shape does not need.
 *
 * Pure: checking happens when the configuration is loaded, rendering when a request is built.
 */
import { PermanentError } from "../../errors.ts";

/** Every placeholder, with what it stands for (shown when a name is unknown). */
export const PLACEHOLDERS = {
  key: "the record's key (the value of the mapping's match property)",
  remote_id: "the API's id for the record, once Ferry knows it",
  idempotency_key: "the change's idempotency key (in a batch's own body: the batch's)",
  properties: "the record's properties, as an object",
  changed: "only the properties changed since the last delivery (all of them for a record not delivered yet)",
  "field.NAME": "one property's value",
  object: "the mapping's object for this destination",
  entity: "the canonical entity's name",
  match_property: "the mapping's match property",
  records: "batch mode: the array of each record's record_body",
} as const;

export type TemplatePath = (string | number)[];

export interface TemplateIssue {
  /** Where in the template, relative to it. */
  path: TemplatePath;
  message: string;
}

export interface PlaceholderUse {
  /** `key`, `field.email`... */
  name: string;
  path: TemplatePath;
  /** The string is exactly this placeholder. */
  whole: boolean;
}

const OCCURRENCE = /\{\{\s*([^{}]*?)\s*\}\}/g;
const WHOLE = /^\{\{\s*([^{}]*?)\s*\}\}$/;
const FIELD = /^field\.(.+)$/;

/** Whether `name` is a placeholder of the language (whether it is allowed somewhere is the caller's business). */
export function isPlaceholder(name: string): boolean {
  return FIELD.test(name) || (name in PLACEHOLDERS && name !== "field.NAME");
}

/** Every placeholder a template uses, in document order. */
export function placeholdersOf(template: unknown, path: TemplatePath = []): PlaceholderUse[] {
  if (typeof template === "string") {
    const whole = WHOLE.exec(template);
    if (whole) return [{ name: whole[1]!, path, whole: true }];
    return [...template.matchAll(OCCURRENCE)].map((m) => ({ name: m[1]!, path, whole: false }));
  }
  if (Array.isArray(template)) return template.flatMap((item, i) => placeholdersOf(item, [...path, i]));
  if (isObject(template)) return Object.entries(template).flatMap(([k, v]) => placeholdersOf(v, [...path, k]));
  return [];
}

/**
 * Checks a template: every placeholder known, allowed where it is (`refuse` gives the reason when it is
 * not), `{{records}}` only as a whole value, no stray `{{`, no placeholder in an object's key.
 */
export function checkTemplate(template: unknown, refuse: (name: string) => string | undefined): TemplateIssue[] {
  const issues: TemplateIssue[] = [];
  const walk = (node: unknown, path: TemplatePath) => {
    if (typeof node === "string") {
      if (node.replace(OCCURRENCE, "").includes("{{")) {
        issues.push({ path, message: "a {{ that is not part of a placeholder: write placeholders as {{name}}" });
      }
      return;
    }
    if (Array.isArray(node)) node.forEach((item, i) => walk(item, [...path, i]));
    else if (isObject(node)) {
      for (const [k, v] of Object.entries(node)) {
        if (k.includes("{{")) issues.push({ path: [...path, k], message: "placeholders are replaced in values only, not in keys" });
        walk(v, [...path, k]);
      }
    }
  };
  walk(template, []);
  for (const use of placeholdersOf(template)) {
    const shown = `{{${use.name}}}`;
    if (!isPlaceholder(use.name)) {
      const known = Object.keys(PLACEHOLDERS).map((n) => `{{${n}}}`).join(", ");
      issues.push({ path: use.path, message: `unknown placeholder ${shown}: the placeholders are ${known}` });
      continue;
    }
    const why = refuse(use.name);
    if (why) issues.push({ path: use.path, message: `${shown} cannot be used here: ${why}` });
    else if (use.name === "records" && !use.whole) {
      issues.push({ path: use.path, message: "{{records}} is an array: write it as a whole value, e.g. items: \"{{records}}\"" });
    }
  }
  return issues;
}

/** The values of the placeholders for one request; undefined for a placeholder without a value. */
export type Scope = (name: string) => unknown;

/** The template with its placeholders replaced: a JSON value. */
export function render(template: unknown, scope: Scope): unknown {
  if (typeof template === "string") {
    const whole = WHOLE.exec(template);
    if (whole) return scope(whole[1]!) ?? null;
    return template.replace(OCCURRENCE, (_, name: string) => asText(scope(name)));
  }
  if (Array.isArray(template)) return template.map((item) => render(item, scope));
  if (isObject(template)) return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, render(v, scope)]));
  return template;
}

/**
 * A URL path (with its query string, if any) with each placeholder's value percent-encoded. A placeholder
 * without a value fails the record: a request to `/customers/` would reach another resource.
 */
export function renderPath(template: string, scope: Scope, where: string): string {
  return template.replace(OCCURRENCE, (_, name: string) => {
    const text = asText(scope(name));
    if (text === "") {
      throw new PermanentError("DEST_TEMPLATE_EMPTY", `{{${name}}} has no value for this record, and ${where} needs one`);
    }
    return encodeURIComponent(text);
  });
}

/** Whether the template, or any string in it, uses the placeholder. */
export function uses(template: unknown, name: string): boolean {
  return placeholdersOf(template).some((u) => u.name === name);
}

function asText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
