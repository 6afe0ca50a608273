/**
 * What the configuration layer knows of a connector, and the registry that holds them. A connector says
 * once what it is (its config schema, its modes, its checks); the job and project schemas, the loader, the
 * secret handling and `ferry validate --schemas` are all built from the registries, never from lists kept
 * beside them. This layer imports no connector: the registries are filled by `sources/registry.ts` and
 * `destinations/registry.ts`, one line per connector.
 */
import { z } from "zod";
import type { ConfigError, ConfigLocation } from "../errors.ts";

/** How a job reads: everything each run (deletes detected), or what changed since the checkpoint. */
export type SyncMode = "snapshot" | "cursor";

/** What a job does with a record its source no longer holds. */
export type DeletePolicy = "propagate" | "archive" | "ignore" | "flag";

/** The connections and destinations a project declares, as a connector's cross-field checks see them. */
export interface ProjectDeclarations {
  connections: Record<string, { dialect: string }>;
  destinations: Record<string, { type: string }>;
}

/** What a connector's `validate` hook is given besides its own config. */
export interface ValidateContext {
  project: ProjectDeclarations;
  /** Where a field of the connector's block is, for an error: `at("query")` is `source.query`, with its line. */
  at(field: string): ConfigLocation;
}

export interface ConnectorSpec<C = unknown> {
  /** The value of `type:` that selects this connector. */
  readonly type: string;
  /**
   * Its block in a configuration file, with `type` as the discriminator. Fields carry `.describe()` texts
   * (they reach the JSON Schema editors complete from); credentials are `secretRef` fields, which stay
   * references after loading wherever they appear (see `secretPathsOf`).
   */
  readonly configSchema: z.ZodType<C>;
  /**
   * Checks that need more than the block itself (a connection it names exists, a query is read-only).
   * Returns every problem found; called by the loader and `ferry validate` after the schema passed. It sees
   * the block as written: its references resolve only when Ferry talks to the system (`systems.ts`), so a
   * check must not depend on a value a reference stands for.
   */
  validate?(config: C, context: ValidateContext): ConfigError[];
}

/** What a source's `validate` hook is also given: the settings of the job that reads through it. */
export interface SourceValidateContext extends ValidateContext {
  job: { mode: SyncMode; deletes: { policy: DeletePolicy } };
}

export interface SourceSpec<C = unknown> extends ConnectorSpec<C> {
  /** Checks that need more than the block itself, the job's settings included (see `ConnectorSpec`). */
  validate?(config: C, context: SourceValidateContext): ConfigError[];
  /** The modes it can read in; a job asking for another is a configuration error at its `mode:` line. */
  readonly modes: readonly SyncMode[];
  /** Why the other modes do not apply, said when a job asks for one: "a file is read whole". */
  readonly modesNote?: string;
  /** The entries of ferry.yaml's `connections:` it reads through, when it has them (the `sql` source). */
  readonly connectionSchema?: z.ZodType<{ dialect: string }>;
  /** The connection a job's block reads through (the `sql` source's `connection:`), with `connectionSchema`. */
  connectionOf?(config: C): string;
  /** What the user edits to change the columns it returns, for messages: "query", "file". */
  readonly columnsFrom: string;
}

/** Every connector of one kind, by `type`. Filled by import, in one explicit registry file per kind. */
export class ConnectorRegistry<D extends ConnectorSpec> {
  readonly kind: string;
  readonly #byType = new Map<string, D>();

  constructor(kind: string) {
    this.kind = kind;
  }

  /** Adds a connector; a second one with the same type is a programming error. */
  add(definition: D): this {
    if (this.#byType.has(definition.type)) throw new Error(`a ${this.kind} of type "${definition.type}" is already registered`);
    this.#byType.set(definition.type, definition);
    return this;
  }

  /** The connector of a type the loader accepted (so it exists). */
  get(type: string): D {
    const found = this.#byType.get(type);
    if (!found) throw new Error(`no ${this.kind} of type "${type}" is registered: the types are ${this.types().join(", ")}`);
    return found;
  }

  list(): D[] {
    return [...this.#byType.values()];
  }

  types(): string[] {
    return [...this.#byType.keys()];
  }
}

/**
 * One schema for a block whose `key` (`type`, `dialect`) picks one of `schemas`: the union a config file's
 * `source:` or `destinations:` entry is checked against, built from a registry.
 */
export function oneOfTypes<T>(schemas: readonly z.ZodType[], key: string): z.ZodType<T> {
  const options = schemas as unknown as [z.core.$ZodTypeDiscriminable, ...z.core.$ZodTypeDiscriminable[]];
  return z.discriminatedUnion(key, options) as unknown as z.ZodType<T>;
}
