/** Where a field of a configuration file is: its line and column, for errors found after the file was parsed. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { isMap, isSeq, LineCounter, parseDocument } from "yaml";
import { ConfigError, type ConfigLocation, formatLocation } from "../errors.ts";
import { formatPath } from "./yaml.ts";

/**
 * The line and column of a field in a YAML file, for errors found after schema validation: a dotted path
 * (`destinations.crm.token`), or its segments, numbers for list items (`["alerts", "rules", 0, "channels", 1]`).
 */
export function locate(dir: string, file: string, field: string | readonly (string | number)[]): ConfigLocation {
  const fieldPath = typeof field === "string" ? field : formatPath(field);
  const parts = typeof field === "string" ? field.split(".") : field;
  try {
    const counter = new LineCounter();
    const doc = parseDocument(readFileSync(path.join(dir, file), "utf8"), { lineCounter: counter });
    let node: unknown = doc.contents;
    let offset: number | undefined;
    for (const part of parts) {
      if (isSeq(node) && typeof part === "number") {
        node = node.items[part];
        const start = (node as { range?: [number, number, number] } | undefined)?.range?.[0];
        if (start === undefined) break;
        offset = start;
        continue;
      }
      if (!isMap(node)) break;
      const pair = node.items.find((p) => String((p.key as { value?: unknown })?.value) === part);
      if (!pair) break;
      offset = (pair.key as { range?: [number, number, number] }).range?.[0];
      node = pair.value;
    }
    if (offset === undefined) return { file, path: fieldPath };
    const pos = counter.linePos(offset);
    return { file, line: pos.line, column: pos.col, path: fieldPath };
  } catch {
    return { file, path: fieldPath };
  }
}

/**
 * A ConfigError that names its field but not its line (a reference that cannot resolve), given its line in
 * `file`; any other error as it is.
 */
export function located(dir: string, file: string, error: unknown): unknown {
  if (!(error instanceof ConfigError) || !error.location?.path || error.location.line !== undefined) return error;
  const prefix = `${formatLocation(error.location)}: `;
  const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  return new ConfigError(error.code, message, locate(dir, file, error.location.path), { cause: error.cause });
}

/** Runs `fn`; a reference error it throws gets its line (`located`), so every ConfigError names both. */
export function withLine<T>(dir: string, file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw located(dir, file, e);
  }
}
