import { readdir, readFile } from "node:fs/promises";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

/** HubSpot's published OpenAPI specs, kept beside the repository (in /work/shared), never copied into it. */
export const HUBSPOT_CONTRACT_DIR = new URL("../../../shared/contracts/hubspot/", import.meta.url);

export interface RequestToCheck {
  method: string;
  /** May carry a query string; it is ignored. */
  path: string;
  body?: unknown;
  /** When given, an `Authorization: Bearer ...` header must be among them. */
  headers?: Record<string, string | string[] | undefined>;
}

export interface ResponseToCheck {
  method: string;
  path: string;
  status: number;
  body?: unknown;
}

export interface HubSpotContract {
  /** `METHOD /path/{template}` of every operation the specs describe. */
  readonly operations: readonly string[];
  /** Violations of the spec, empty when the request conforms. */
  validateRequest(request: RequestToCheck): string[];
  validateResponse(response: ResponseToCheck): string[];
}

/** What the HubSpot emulator records per request (structurally; this module does not import it). */
export interface RecordedExchange {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  response?: unknown;
}

interface Operation {
  docId: string;
  pointer: string;
  spec: Record<string, unknown>;
}

interface PathEntry {
  template: string;
  pattern: RegExp;
  literalSegments: number;
  methods: Map<string, Operation>;
}

const addFormats = addFormatsModule.default;
const HTTP_METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);

function pointerPart(part: string): string {
  return part.replaceAll("~", "~0").replaceAll("/", "~1");
}

function resolvePointer(doc: unknown, ref: string): unknown {
  let node = doc;
  for (const part of ref.replace(/^#\//, "").split("/")) {
    if (!isObject(node)) return undefined;
    node = node[part.replaceAll("~1", "/").replaceAll("~0", "~")];
  }
  return node;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function jsonContent(content: unknown): [string, unknown] | undefined {
  if (!isObject(content)) return undefined;
  const type = ["application/json", "*/*"].find((t) => t in content) ?? Object.keys(content)[0];
  return type === undefined ? undefined : [type, content[type]];
}

function describe(errors: readonly ErrorObject[] | null | undefined, what: string): string[] {
  return (errors ?? []).map((e) => {
    const extra = e.keyword === "additionalProperties" ? ` (${JSON.stringify(e.params)})` : "";
    return `${what}: ${e.instancePath ? `${e.instancePath} ` : ""}${e.message ?? e.keyword}${extra}`;
  });
}

class Contract implements HubSpotContract {
  readonly operations: string[] = [];
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly paths: PathEntry[] = [];
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly docs = new Map<string, Record<string, unknown>>();

  constructor(docs: readonly { id: string; doc: Record<string, unknown> }[]) {
    addFormats(this.ajv);
    for (const { id, doc } of docs) {
      this.ajv.addSchema({ ...doc, $id: id });
      this.docs.set(id, doc);
      for (const [template, item] of Object.entries(isObject(doc.paths) ? doc.paths : {})) {
        if (!isObject(item)) continue;
        let entry = this.paths.find((p) => p.template === template);
        if (entry === undefined) {
          const segments = template.split("/");
          const pattern = segments
            .map((s) => (/^\{[^}]+\}$/.test(s) ? "[^/]+" : s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
            .join("/");
          entry = {
            template,
            pattern: new RegExp(`^${pattern}/?$`),
            literalSegments: segments.filter((s) => !s.startsWith("{")).length,
            methods: new Map(),
          };
          this.paths.push(entry);
        }
        for (const [method, spec] of Object.entries(item)) {
          if (!HTTP_METHODS.has(method) || !isObject(spec)) continue;
          const pointer = `#/paths/${pointerPart(template)}/${method}`;
          entry.methods.set(method.toUpperCase(), { docId: id, pointer, spec });
          this.operations.push(`${method.toUpperCase()} ${template}`);
        }
      }
    }
    this.paths.sort((a, b) => b.literalSegments - a.literalSegments);
  }

  validateRequest(request: RequestToCheck): string[] {
    const found = this.operation(request.method, request.path);
    if (typeof found === "string") return [found];
    const { operation, label } = found;
    const violations: string[] = [];
    if (request.headers !== undefined) {
      const header = Object.entries(request.headers).find(
        ([name]) => name.toLowerCase() === "authorization",
      )?.[1];
      const value = Array.isArray(header) ? header[0] : header;
      if (value === undefined || !/^Bearer \S+/.test(value)) {
        violations.push(`${label}: missing "Authorization: Bearer <token>" header`);
      }
    }
    const requestBody = operation.spec.requestBody;
    if (!isObject(requestBody)) {
      if (request.body !== undefined) violations.push(`${label}: the operation takes no request body`);
      return violations;
    }
    if (request.body === undefined) {
      if (requestBody.required === true) violations.push(`${label}: request body is required`);
      return violations;
    }
    const content = jsonContent(requestBody.content);
    if (content === undefined) return violations;
    const validate = this.compile(
      `${operation.docId}${operation.pointer}/requestBody/content/${pointerPart(content[0])}/schema`,
    );
    if (!validate(request.body)) {
      violations.push(...describe(validate.errors, `${label}: request body`));
    }
    return violations;
  }

  validateResponse(response: ResponseToCheck): string[] {
    const found = this.operation(response.method, response.path);
    if (typeof found === "string") return [found];
    const { operation, label } = found;
    const responses = isObject(operation.spec.responses) ? operation.spec.responses : {};
    const key = String(response.status) in responses ? String(response.status) : "default";
    let spec = responses[key];
    if (spec === undefined)
      return [`${label}: status ${response.status} is not among the documented responses`];
    let pointer = `/responses/${key}`;
    let base = `${operation.docId}${operation.pointer}`;
    if (isObject(spec) && typeof spec.$ref === "string") {
      base = `${operation.docId}${spec.$ref}`;
      pointer = "";
      spec = resolvePointer(this.docs.get(operation.docId), spec.$ref);
    }
    const content = isObject(spec) ? jsonContent(spec.content) : undefined;
    if (content === undefined) {
      return response.body === undefined ? [] : [`${label}: status ${response.status} must have no body`];
    }
    if (response.body === undefined) return [`${label}: status ${response.status} must have a body`];
    const validate = this.compile(`${base}${pointer}/content/${pointerPart(content[0])}/schema`);
    if (!validate(response.body)) {
      return describe(validate.errors, `${label}: response ${response.status} body`);
    }
    return [];
  }

  private operation(method: string, rawPath: string): { operation: Operation; label: string } | string {
    const path = rawPath.split("?")[0] ?? rawPath;
    const upper = method.toUpperCase();
    const matches = this.paths.filter((p) => p.pattern.test(path));
    if (matches.length === 0) return `${upper} ${path}: no such path in the HubSpot spec`;
    for (const entry of matches) {
      const operation = entry.methods.get(upper);
      if (operation !== undefined) return { operation, label: `${upper} ${entry.template}` };
    }
    return `${upper} ${path}: method not allowed (the spec has ${[...new Set(matches.flatMap((m) => [...m.methods.keys()]))].join(", ")})`;
  }

  private compile(ref: string): ValidateFunction {
    let validate = this.compiled.get(ref);
    if (validate === undefined) {
      validate = this.ajv.compile({ $ref: ref });
      this.compiled.set(ref, validate);
    }
    return validate;
  }
}

/** Null when the specs are not there (they live outside the repository). */
export async function loadHubSpotContract(dir: URL = HUBSPOT_CONTRACT_DIR): Promise<HubSpotContract | null> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith(".oas.json")).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  if (files.length === 0) return null;
  const docs = await Promise.all(
    files.map(async (file) => ({
      id: `hubspot:${file}`,
      doc: JSON.parse(await readFile(new URL(file, dir), "utf8")) as Record<string, unknown>,
    })),
  );
  return new Contract(docs);
}

/**
 * Checks every recorded request, and every recorded response, against the contract. Responses are
 * checked only when they were recorded (the emulator's `logBodies`), or for 204, which has none.
 */
export function validateExchanges(
  contract: HubSpotContract,
  exchanges: Iterable<RecordedExchange>,
): string[] {
  const violations: string[] = [];
  let i = 0;
  for (const exchange of exchanges) {
    const where = `request #${i++} -> ${exchange.status}`;
    const problems = contract.validateRequest(exchange);
    if (exchange.response !== undefined || exchange.status === 204) {
      problems.push(
        ...contract.validateResponse({
          method: exchange.method,
          path: exchange.path,
          status: exchange.status,
          body: exchange.response,
        }),
      );
    }
    violations.push(...problems.map((p) => `${where}: ${p}`));
  }
  return violations;
}
