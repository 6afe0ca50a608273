/**
 * The `rest` destination's configuration: a JSON REST API described entirely in ferry.yaml, its endpoints
 * and bodies as templates (rest.template.ts). Everything a template or an endpoint combination can get wrong
 * is refused here, when the project loads, not at the first delivery.
 */
import { z } from "zod";
import { secretRef } from "../../config/secrets.ts";
import { deliverySettings } from "../shared.config.ts";
import { checkTemplate, placeholdersOf, uses } from "./rest.template.ts";

export const DEFAULT_BATCH_SIZE = 100;
export const DEFAULT_IDEMPOTENCY_HEADER = "Idempotency-Key";

const urlOrReference = (example: string) =>
  z.string().refine((v) => v.includes("${") || URL.canParse(v), `expected a URL such as ${example}, or a reference \${env:NAME}`);

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "expected an HTTP header name such as X-Api-Key");

const dottedPath = z.string().regex(/^[^.\s]+(\.[^.\s]+)*$/, "expected a dotted path such as results or data.items");

const path = z
  .string()
  .startsWith("/", "expected a path under base_url, starting with /")
  .describe("Path under base_url, a template: e.g. /customers/{{remote_id}} or /customers?external_id={{key}}. Values are URL-encoded.");

const template = (what: string) =>
  z.unknown().describe(`${what} Any YAML value; a string that is exactly one placeholder ({{properties}}) takes the value's JSON type.`);

const writeEndpoint = (method: "POST" | "PUT" | "PATCH" | "DELETE", what: string) =>
  z
    .strictObject({
      method: z.enum(["POST", "PUT", "PATCH", "DELETE"]).default(method).describe("HTTP method."),
      path,
      body: template(
        "JSON body, a template. Default: {{properties}} for one record per request (none for delete); " +
          "{ items: \"{{records}}\" } for a batch request.",
      ).optional(),
      record_body: template(
        "Batch requests only: each record's element of {{records}}, a template. Default: {{properties}}.",
      ).optional(),
    })
    .describe(what);

const lookupEndpoint = z
  .strictObject({
    method: z.enum(["GET", "POST"]).default("GET").describe("HTTP method; a POST lookup (a search endpoint) is still a read."),
    path,
    body: template("JSON body of a POST lookup, a template.").optional(),
    result_path: dottedPath
      .optional()
      .describe("Where the match is in the answer (e.g. data): a list (empty means not found) or an object. Default: the answer itself."),
    id_field: dottedPath.default("id").describe("Field of the match holding the API's id for the record."),
  })
  .describe("Finds a record by its key before creating it, one request per record: found, it is updated instead. A 404 or an empty answer means not found.");

const readEndpoint = z
  .strictObject({
    path: path.describe("GET path of one record by the API's id, a template: e.g. /customers/{{remote_id}}."),
    result_path: dottedPath.optional().describe("Where the record is in the answer (e.g. data). Default: the answer itself."),
  })
  .describe(
    "Reads one record back (GET), for remote_edits: its fields are the properties by name. A 404 means the record is gone.",
  );

const authSchema = z
  .discriminatedUnion("type", [
    z.strictObject({ type: z.literal("none").describe("No credentials (an API behind a private network).") }),
    z.strictObject({
      type: z.literal("bearer").describe("Authorization: Bearer <token>."),
      token: secretRef.describe("The token, as a reference: ${env:API_TOKEN}."),
    }),
    z.strictObject({
      type: z.literal("api_key").describe("An API key in a header of its own."),
      header: headerName.describe("The header's name, e.g. X-Api-Key."),
      value: secretRef.describe("The key, as a reference: ${env:API_KEY}."),
    }),
    z.strictObject({
      type: z.literal("basic").describe("HTTP basic authentication."),
      username: z.string().min(1).describe("User name."),
      password: secretRef.describe("Password, as a reference: ${env:API_PASSWORD}."),
    }),
    z.strictObject({
      type: z.literal("oauth2_client_credentials").describe("OAuth2 client credentials grant; the token is renewed on expiry and after a 401."),
      token_url: urlOrReference("https://auth.example.com/oauth/token").describe("The token endpoint."),
      client_id: z.string().min(1).describe("Client id."),
      client_secret: secretRef.describe("Client secret, as a reference: ${env:API_CLIENT_SECRET}. Sent in the token request's form."),
      scope: z.string().min(1).optional().describe("Space-separated scopes to ask for."),
      audience: z.string().min(1).optional().describe("The audience parameter some token endpoints need (Auth0 and others)."),
    }),
  ])
  .describe("How Ferry authenticates to the API. Credentials only as references.");

const restDestinationFields = z.strictObject({
  type: z.literal("rest"),
  base_url: urlOrReference("https://api.example.com/v1").describe("API root that endpoint paths are under; a reference ${env:NAME} works too."),
  auth: authSchema,
  mode: z
    .enum(["single", "batch"])
    .default("single")
    .describe("single: one request per record. batch: create, update and upsert send up to max_batch_size records per request."),
  max_batch_size: z.number().int().min(1).max(1000).optional().describe(`Batch mode: most records per request. Default ${DEFAULT_BATCH_SIZE}.`),
  endpoints: z
    .strictObject({
      upsert: writeEndpoint("PUT", "Creates or updates a record by its key: safe to retry by itself. Give it, or create and update.").optional(),
      create: writeEndpoint("POST", "Creates a record. Made safe to retry by lookup or idempotency_header.").optional(),
      update: writeEndpoint("PATCH", "Updates a record Ferry knows the API's id of ({{remote_id}}) or found by lookup. A 404 looks it up again or creates it.").optional(),
      lookup: lookupEndpoint.optional(),
      read: readEndpoint.optional(),
      delete: writeEndpoint(
        "DELETE",
        "Deletes a record; a 404 means it is already gone. One request per record, unless its body holds {{records}} in batch mode.",
      ).optional(),
    })
    .describe("The API's endpoints: upsert, or create + update (+ lookup); delete when records are deleted at their source."),
  results: z
    .strictObject({
      path: dottedPath
        .optional()
        .describe("batch: where the list of per-record results is (e.g. results); single: where the record is (e.g. data). Default: the answer itself."),
      match_by: z
        .enum(["index", "key"])
        .optional()
        .describe("batch: results in the order the records were sent (index, the default), or found by the record's key (key)."),
      key_field: dottedPath.optional().describe("batch, with match_by: key: the field of each result holding the record's key."),
      id_field: dottedPath.default("id").describe("Field of a result holding the API's id for the record."),
      error_field: dottedPath.optional().describe("Field of a result that, present and not empty, says the API refused that record."),
    })
    .default({ id_field: "id" })
    .describe("How to read the API's answers."),
  idempotency_header: headerName
    .nullable()
    .optional()
    .describe(
      `Header carrying the idempotency key on every create and upsert (a batch's key is a hash of its records' keys). ` +
          `Default ${DEFAULT_IDEMPOTENCY_HEADER}; null: none. Write it out to rely on the API deduplicating creates without a lookup.`,
    ),
  ...deliverySettings({ rateLimit: null, concurrency: 4 }),
});

export const restDestinationSchema = restDestinationFields.superRefine((c, ctx) => {
  for (const issue of restConfigProblems(c)) ctx.addIssue({ code: "custom", path: issue.path, message: issue.message });
});

export type RestDestinationConfig = z.output<typeof restDestinationFields>;
export type EndpointKind = "upsert" | "create" | "update" | "delete";
export type Endpoint = NonNullable<RestDestinationConfig["endpoints"]["create"]>;

/** Whether an endpoint sends many records per request: batch mode's writes, and a delete whose body holds {{records}}. */
export function isBatchEndpoint(c: Pick<RestDestinationConfig, "mode" | "endpoints">, kind: EndpointKind): boolean {
  if (c.mode !== "batch") return false;
  return kind === "delete" ? uses(c.endpoints.delete?.body, "records") : true;
}

/** The endpoint's body template, its default filled in; undefined for no body. */
export function bodyOf(c: Pick<RestDestinationConfig, "mode" | "endpoints">, kind: EndpointKind): unknown {
  const body = c.endpoints[kind]?.body;
  if (body !== undefined || kind === "delete") return body;
  return isBatchEndpoint(c, kind) ? { items: "{{records}}" } : "{{properties}}";
}

/** Each record's element of {{records}} in a batch request. */
export function recordBodyOf(c: Pick<RestDestinationConfig, "endpoints">, kind: EndpointKind): unknown {
  return c.endpoints[kind]?.record_body ?? "{{properties}}";
}

export function idempotencyHeaderOf(c: Pick<RestDestinationConfig, "idempotency_header">): string | null {
  return c.idempotency_header === undefined ? DEFAULT_IDEMPOTENCY_HEADER : c.idempotency_header;
}

interface Problem {
  path: (string | number)[];
  message: string;
}

const RECORD_PLACEHOLDERS = new Set(["key", "remote_id", "properties", "changed"]);
const isRecordPlaceholder = (name: string) => RECORD_PLACEHOLDERS.has(name) || name.startsWith("field.");

type Add = (path: (string | number)[], message: string) => void;

/** What is wrong with a configuration the field schemas accepted: endpoint combinations and templates. */
export function restConfigProblems(c: RestDestinationConfig): Problem[] {
  const problems: Problem[] = [];
  const add: Add = (path, message) => problems.push({ path, message });
  endpointProblems(c, add);
  remoteEditsProblems(c, add);
  batchProblems(c, add);
  for (const kind of ["upsert", "create", "update", "delete", "lookup"] as const) templateProblems(c, kind, add);
  return problems;
}

/** Which endpoints go together, and how a create is made safe to retry. */
function endpointProblems(c: RestDestinationConfig, add: Add): void {
  const e = c.endpoints;
  if (e.upsert && (e.create || e.update)) add(["endpoints", "upsert"], "give either upsert, or create and update, not both");
  else if (!e.upsert && !(e.create && e.update)) {
    add(["endpoints"], e.create || e.update
      ? "create and update go together: give both (or upsert alone)"
      : "give endpoints.upsert, or endpoints.create and endpoints.update");
  }
  if (e.upsert && e.lookup) add(["endpoints", "lookup"], "an upsert finds the record by its key itself: a lookup is only for create");
  if (e.create && !e.lookup && (c.idempotency_header === undefined || c.idempotency_header === null)) {
    add(
      ["endpoints", "create"],
      "a create is not safe to retry as it stands: an answer lost on the way would make Ferry create the record twice. " +
        "Give endpoints.lookup (how to find a record by its key, so that a retry updates it instead), " +
        `or write idempotency_header (e.g. ${DEFAULT_IDEMPOTENCY_HEADER}) if the API deduplicates requests carrying the same key, ` +
        "or use an upsert endpoint",
    );
  }
}

/** remote_edits other than overwrite: a read endpoint, and updates that send only what changed. */
function remoteEditsProblems(c: RestDestinationConfig, add: Add): void {
  const e = c.endpoints;
  if (c.remote_edits !== "overwrite" && !e.read) {
    add(["remote_edits"], `remote_edits: ${c.remote_edits} reads records back before updating them: give endpoints.read (e.g. path: /customers/{{remote_id}})`);
  }
  const updating = e.update ? "update" : e.upsert ? "upsert" : undefined;
  if (c.remote_edits !== "overwrite" && updating) {
    const shape = { mode: c.mode, endpoints: e };
    const template = isBatchEndpoint(shape, updating) ? recordBodyOf(shape, updating) : bodyOf(shape, updating);
    const names = placeholdersOf(template).map((u) => u.name);
    if (!names.includes("changed") || names.some((n) => n === "properties" || n.startsWith("field."))) {
      add(
        ["endpoints", updating, isBatchEndpoint(shape, updating) ? "record_body" : "body"],
        `remote_edits: ${c.remote_edits} leaves alone the fields a person changed, so an update must send only what changed: ` +
          "write its body with {{changed}}, not {{properties}} or {{field.NAME}}",
      );
    }
  }
  if (e.read) {
    const refuse = (name: string) =>
      name === "remote_id" || name === "key" || name === "object" || name === "entity" || name === "match_property"
        ? undefined
        : `{{${name}}} is not a value for a URL: endpoints.read.path takes {{remote_id}} or {{key}}`;
    for (const i of checkTemplate(e.read.path, refuse)) add(["endpoints", "read", "path", ...i.path], i.message);
  }
}

/** Settings that are for mode: batch only. */
function batchProblems(c: RestDestinationConfig, add: Add): void {
  const batch = c.mode === "batch";
  if (!batch && c.max_batch_size !== undefined) add(["max_batch_size"], "max_batch_size is for mode: batch; mode single sends one record per request");
  const r = c.results;
  if (!batch && (r.match_by !== undefined || r.key_field !== undefined)) {
    add(["results", r.match_by !== undefined ? "match_by" : "key_field"], "match_by and key_field are for mode: batch");
  } else if (r.match_by === "key" && r.key_field === undefined) {
    add(["results", "key_field"], "match_by: key needs key_field: the field of each result holding the record's key");
  } else if (r.key_field !== undefined && r.match_by !== "key") {
    add(["results", "key_field"], "key_field is read only with match_by: key");
  }
}

/** The placeholders one endpoint's path, body and record_body may hold, and the shape of a batch request's body. */
function templateProblems(c: RestDestinationConfig, kind: EndpointKind | "lookup", add: Add): void {
  const e = c.endpoints;
  const endpoint = e[kind];
  if (!endpoint) return;
  const shape = { mode: c.mode, endpoints: e };
  const at = ["endpoints", kind];
  const many = kind !== "lookup" && isBatchEndpoint(shape, kind);
  const noRemoteId = kind === "create"
    ? "a create has no remote id yet"
    : kind === "upsert"
      ? "an upsert is addressed by the record's key: the remote id of a new record is not known"
      : kind === "lookup" ? "the lookup is what finds the remote id" : undefined;
  const refuse = (part: "path" | "body" | "record_body") => (name: string): string | undefined => {
    if (name === "remote_id" && noRemoteId) return noRemoteId;
    if (part === "path" && ["properties", "changed", "records"].includes(name)) return `{{${name}}} is not a value for a URL`;
    if (name === "records") {
      if (part === "record_body") return "record_body is one record's element of {{records}}";
      if (!many) return "only the body of a batch request holds {{records}}";
    }
    if (many && part !== "record_body" && isRecordPlaceholder(name)) {
      return "a batch request's path and body are shared by its records: put what each record sends in record_body";
    }
    return undefined;
  };
  for (const i of checkTemplate(endpoint.path, refuse("path"))) add([...at, "path", ...i.path], i.message);
  const body = kind === "lookup" ? endpoint.body : bodyOf(shape, kind);
  if (kind === "lookup" && endpoint.method === "GET" && body !== undefined) add([...at, "body"], "a GET lookup sends no body");
  for (const i of checkTemplate(body, refuse("body"))) add([...at, "body", ...i.path], i.message);
  if (kind === "lookup") return;
  const write = e[kind]!;
  if (write.record_body !== undefined && !many) {
    add([...at, "record_body"], "record_body is for batch requests (mode: batch; for delete, a body holding {{records}})");
  } else if (many) {
    if (write.body !== undefined && placeholdersOf(write.body).filter((u) => u.name === "records").length !== 1) {
      add([...at, "body"], "the body of a batch request must hold {{records}} once: where the records go, e.g. { items: \"{{records}}\" }");
    }
    if (kind === "delete" && write.record_body === undefined) {
      add([...at, "record_body"], "a batch delete needs record_body: what each record contributes, e.g. \"{{remote_id}}\" or { id: \"{{key}}\" }");
    }
    for (const i of checkTemplate(recordBodyOf(shape, kind), refuse("record_body"))) add([...at, "record_body", ...i.path], i.message);
  }
}
