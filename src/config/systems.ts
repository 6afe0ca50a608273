/**
 * The blocks of configuration that say how to reach a system Ferry talks to: ferry.yaml's
 * `connections.<name>`, `destinations.<name>` and `alerts.channels.<name>`, and each job's `source`. The
 * loader checks them against their schemas and checks that their references (`${env:NAME}`,
 * `${file:PATH}`) are well formed, but resolves none of them: they resolve here, when Ferry is about to
 * talk to that system (a destination is created, a source opened, `ferry serve` makes its alert
 * channels), so a command that only reads state needs no system's variables or secret files. `ferry
 * validate`, and every command before it talks to a system, report what cannot resolve at its file, line
 * and field.
 */
import { ConfigError } from "../errors.ts";
import { valueAt } from "./json-schema.ts";
import { located } from "./locate.ts";
import { checkReferences, joinPath, resolveSecret, resolveTree } from "./secrets.ts";
import { formatPath } from "./yaml.ts";

type Segment = string | number;

export interface SystemBlock {
  /** The file that declares it, relative to the project: `ferry.yaml`, `jobs/erp.yaml`. */
  readonly file: string;
  /** Where it is in that file: `["destinations", "crm"]`, `["source"]`. */
  readonly at: readonly Segment[];
  /** The block as its schema gave it (defaults filled in), its references as written. */
  readonly value: unknown;
  /** Its credential fields (`secretRef`), relative to the block: they stay references once it is resolved. */
  readonly credentials: readonly (readonly Segment[])[];
}

/** A project's system blocks: its connections, destinations and alert channels by name, its jobs' sources by job name. */
export interface ProjectSystems {
  readonly connections: ReadonlyMap<string, SystemBlock>;
  readonly destinations: ReadonlyMap<string, SystemBlock>;
  readonly sources: ReadonlyMap<string, SystemBlock>;
  /** `alerts.channels`: only `ferry serve`, which sends alerts, talks to them. */
  readonly channels?: ReadonlyMap<string, SystemBlock>;
}

/** What resolving a block needs of its project: its folder (for `${file:...}` and lines) and its environment. */
export interface ResolvingProject {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
}

/** Where system blocks sit in a file: ferry.yaml's `[["connections", "*"], ["destinations", "*"]]`, a job's `[["source"]]`. */
export type SystemRoots = readonly (readonly string[])[];

/** Whether `path` lies in a block at one of `roots` (`*` for any key). */
export function insideSystem(roots: SystemRoots, path: readonly Segment[]): boolean {
  return roots.some((root) => root.length <= path.length && root.every((part, i) => part === "*" || part === String(path[i])));
}

/**
 * The blocks at `roots` in a validated file, given the paths of its credential fields. Each one's
 * references are checked for syntax now (a malformed one is reported with the file's other mistakes).
 */
export function systemBlocksIn(
  dir: string,
  file: string,
  data: unknown,
  roots: SystemRoots,
  credentials: readonly (readonly Segment[])[],
  errors: ConfigError[],
): SystemBlock[] {
  const blocks: SystemBlock[] = [];
  const expand = (root: readonly string[], at: Segment[]) => {
    const value = valueAt(data, at);
    if (value === undefined || value === null) return;
    const part = root[at.length];
    if (part === undefined) {
      const inside = credentials.filter((c) => c.length > at.length && at.every((s, i) => s === c[i])).map((c) => c.slice(at.length));
      blocks.push({ file, at, value, credentials: inside });
      return;
    }
    const keys = part === "*" && typeof value === "object" ? Object.keys(value) : [part];
    for (const key of keys) expand(root, [...at, key]);
  };
  for (const root of roots) expand(root, []);
  for (const block of blocks) errors.push(...malformed(dir, block));
  return blocks;
}

/** The references of a block's fields that are not well formed (credentials are checked by their schema). */
function malformed(dir: string, block: SystemBlock): ConfigError[] {
  const errors: ConfigError[] = [];
  const isCredential = credentialTest(block);
  const visit = (node: unknown, path: Segment[]) => {
    if (typeof node === "string") {
      if (isCredential(path)) return;
      try {
        checkReferences(node, { file: block.file, path: joinPath(formatPath(block.at), path) });
      } catch (e) {
        errors.push(problem(dir, block, e));
      }
    } else if (node !== null && typeof node === "object") {
      for (const [key, item] of Object.entries(node)) visit(item, [...path, Array.isArray(node) ? Number(key) : key]);
    }
  };
  visit(block.value, []);
  return errors;
}

function credentialTest(block: SystemBlock): (path: readonly Segment[]) => boolean {
  const keys = new Set(block.credentials.map((c) => formatPath(c)));
  return (path) => keys.has(formatPath(path));
}

/** A ConfigError met in a block, with its line; anything else is thrown on. */
function problem(dir: string, block: SystemBlock, error: unknown): ConfigError {
  const found = located(dir, block.file, error);
  if (found instanceof ConfigError) return found;
  throw found;
}

/**
 * Resolves a block: the references of its fields, except its credentials, which are only checked to
 * resolve (a connector resolves each into a `Secret` when it uses it). Every problem, in file order.
 */
function resolveBlock(project: ResolvingProject, block: SystemBlock): { value: unknown; problems: ConfigError[] } {
  const problems: ConfigError[] = [];
  const path = formatPath(block.at);
  const ctx = { env: project.env, baseDir: project.dir, where: { file: block.file, path } };
  for (const credential of block.credentials) {
    const where = { file: block.file, path: joinPath(path, credential) };
    try {
      resolveSecret(valueAt(block.value, credential) as string, { ...ctx, where });
    } catch (e) {
      problems.push(problem(project.dir, block, e));
    }
  }
  const value = resolveTree(block.value, ctx, credentialTest(block), (e) => problems.push(problem(project.dir, block, e)));
  problems.sort((a, b) => (a.location?.line ?? 0) - (b.location?.line ?? 0) || (a.location?.column ?? 0) - (b.location?.column ?? 0));
  return { value, problems };
}

/** Every reference of the block that cannot resolve, each a ConfigError naming file, line and field. */
export function systemProblems(project: ResolvingProject, block: SystemBlock): ConfigError[] {
  return resolveBlock(project, block).problems;
}

/**
 * The block's configuration as its connector takes it: references resolved, credentials left as
 * references. Throws the first reference that cannot resolve.
 */
export function resolveSystem<T>(project: ResolvingProject, block: SystemBlock): T {
  const { value, problems } = resolveBlock(project, block);
  if (problems[0]) throw problems[0];
  return value as T;
}

/** Throws the first reference of these blocks that cannot resolve: before a command talks to their systems. */
export function requireSystems(project: ResolvingProject, blocks: readonly SystemBlock[]): void {
  for (const block of blocks) {
    const [first] = systemProblems(project, block);
    if (first) throw first;
  }
}

/** Every system block of a project, in the order `ferry validate` reports them. */
export function allSystems(systems: ProjectSystems): SystemBlock[] {
  return [
    ...systems.connections.values(),
    ...systems.destinations.values(),
    ...systems.sources.values(),
    ...(systems.channels?.values() ?? []),
  ];
}

/** The blocks of the destinations named (every one by default). */
export function destinationSystems(systems: ProjectSystems, names?: readonly string[]): SystemBlock[] {
  return [...systems.destinations].filter(([name]) => !names || names.includes(name)).map(([, block]) => block);
}
