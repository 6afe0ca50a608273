/**
 * The `rest` destination's configuration as a user writes it in ferry.yaml: defaults, the complete example
 * of the docs, and the refusals with the messages the loader shows (file, line, field).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { z } from "zod";
import { inputJsonSchema } from "../../config/json-schema.ts";
import { parseConfigFile } from "../../config/yaml.ts";
import { ConfigError } from "../../errors.ts";
import { bodyOf, idempotencyHeaderOf, isBatchEndpoint, recordBodyOf, restDestinationSchema } from "./rest.config.ts";

/** The destination as a ferry.yaml entry, validated by the same schema the loader uses. */
function load(yaml: string) {
  const schema = z.strictObject({ destinations: z.record(z.string(), restDestinationSchema) });
  return parseConfigFile("ferry.yaml", `destinations:\n  crm:\n${yaml.trim().replace(/^/gm, "    ")}\n`, schema).destinations.crm!;
}

function refused(yaml: string): string {
  try {
    load(yaml);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  assert.fail("expected the configuration to be refused");
}

const HEAD = `
type: rest
base_url: https://api.example.com/v1
auth: { type: bearer, token: "\${env:CRM_TOKEN}" }
`;

export const EXAMPLE = `
type: rest
base_url: https://api.example.com/v1
auth:
  type: oauth2_client_credentials
  token_url: https://auth.example.com/oauth/token
  client_id: ferry
  client_secret: \${env:CRM_CLIENT_SECRET}
  scope: customers.write
mode: batch
max_batch_size: 50
endpoints:
  create:
    method: POST
    path: /{{object}}/batch
    body: { items: "{{records}}" }
    record_body: { external_id: "{{key}}", attributes: "{{properties}}" }
  update:
    method: PATCH
    path: /{{object}}/batch
    body: { items: "{{records}}" }
    record_body: { id: "{{remote_id}}", attributes: "{{changed}}" }
  lookup:
    method: GET
    path: /{{object}}?external_id={{key}}
    result_path: data
    id_field: id
  delete:
    method: DELETE
    path: /{{object}}/{{remote_id}}
results:
  path: results
  match_by: key
  key_field: external_id
  id_field: id
  error_field: error
idempotency_header: Idempotency-Key
rate_limit: { requests: 100, per_seconds: 10 }
timeout: 20s
`;

describe("rest destination config", () => {
  test("a minimal upsert API: one record per request, defaults filled in", () => {
    const c = load(`${HEAD}endpoints:\n  upsert: { path: "/customers/{{key}}" }`);
    assert.deepEqual(c, {
      type: "rest",
      base_url: "https://api.example.com/v1",
      auth: { type: "bearer", token: "${env:CRM_TOKEN}" },
      mode: "single",
      endpoints: { upsert: { method: "PUT", path: "/customers/{{key}}" } },
      results: { id_field: "id" },
      rate_limit: null,
      max_attempts: 5,
      timeout: "30s",
      concurrency: 4,
      circuit_breaker: { failures: 5, open_for: "30s" },
      remote_edits: "overwrite",
    });
    assert.equal(bodyOf(c, "upsert"), "{{properties}}");
    assert.equal(idempotencyHeaderOf(c), "Idempotency-Key");
    assert.equal(idempotencyHeaderOf({ idempotency_header: null }), null);
  });

  test("the complete example loads; batch requests get { items: {{records}} } by default", () => {
    const c = load(EXAMPLE);
    assert.equal(c.mode, "batch");
    assert.equal(isBatchEndpoint(c, "create"), true);
    assert.equal(isBatchEndpoint(c, "delete"), false, "a delete whose body holds no {{records}} goes one record at a time");
    const plain = load(`${HEAD}mode: batch\nidempotency_header: Idempotency-Key\nendpoints:\n  create: { path: /c }\n  update: { path: /c }`);
    assert.deepEqual(bodyOf(plain, "create"), { items: "{{records}}" });
    assert.equal(recordBodyOf(plain, "update"), "{{properties}}");
  });

  test("an unknown placeholder is refused, naming the field it is in", () => {
    assert.match(
      refused(`${HEAD}endpoints:\n  upsert:\n    path: /customers/{{key}}\n    body: { name: "{{field.name}}", mail: "{{emial}}" }`),
      /^ferry\.yaml:9:\d+ \(destinations\.crm\.endpoints\.upsert\.body\.mail\): unknown placeholder \{\{emial\}\}: the placeholders are /,
    );
    assert.match(
      refused(`${HEAD}endpoints:\n  upsert: { path: "/customers/{{ id }}" }`),
      /\(destinations\.crm\.endpoints\.upsert\.path\): unknown placeholder \{\{id\}\}/,
    );
    assert.match(refused(`${HEAD}endpoints:\n  upsert: { path: "/customers/{{key}" }`), /upsert\.path\): a \{\{ that is not part of a placeholder/);
  });

  test("a create that is not safe to retry is refused, saying why and what to give", () => {
    const message = refused(`${HEAD}endpoints:\n  create: { path: /customers }\n  update: { path: "/customers/{{remote_id}}" }`);
    assert.match(message, /\(destinations\.crm\.endpoints\.create\): a create is not safe to retry as it stands: /);
    assert.match(message, /an answer lost on the way would make Ferry create the record twice/);
    assert.match(message, /Give endpoints\.lookup .*or write idempotency_header .*or use an upsert endpoint/);
    assert.match(
      refused(`${HEAD}idempotency_header: null\nendpoints:\n  create: { path: /customers }\n  update: { path: "/customers/{{remote_id}}" }`),
      /a create is not safe to retry/,
    );
    // Either way of making it safe is accepted.
    load(`${HEAD}idempotency_header: X-Request-Id\nendpoints:\n  create: { path: /customers }\n  update: { path: "/customers/{{remote_id}}" }`);
    load(`${HEAD}endpoints:\n  create: { path: /customers }\n  update: { path: "/customers/{{remote_id}}" }\n  lookup: { path: "/customers?external_id={{key}}" }`);
  });

  test("a literal secret is refused without echoing it", () => {
    const message = refused(`type: rest\nbase_url: https://api.example.com\nauth: { type: api_key, header: X-Api-Key, value: hunter2hunter2 }\nendpoints:\n  upsert: { path: "/c/{{key}}" }`);
    assert.match(message, /\(destinations\.crm\.auth\.value\): a literal secret is not allowed here/);
    assert.doesNotMatch(message, /hunter2/);
    assert.match(
      refused(`type: rest\nbase_url: https://api.example.com\nauth: { type: basic, username: u, password: pw }\nendpoints:\n  upsert: { path: "/c/{{key}}" }`),
      /auth\.password\): a literal secret/,
    );
  });

  test("endpoint combinations", () => {
    assert.match(refused(`${HEAD}endpoints: {}`), /\(destinations\.crm\.endpoints\): give endpoints\.upsert, or endpoints\.create and endpoints\.update/);
    assert.match(refused(`${HEAD}endpoints:\n  create: { path: /c }\n  lookup: { path: "/c?k={{key}}" }`), /create and update go together/);
    assert.match(
      refused(`${HEAD}endpoints:\n  upsert: { path: "/c/{{key}}" }\n  create: { path: /c }\n  update: { path: /c }`),
      /endpoints\.upsert\): give either upsert, or create and update, not both/,
    );
    assert.match(
      refused(`${HEAD}endpoints:\n  upsert: { path: "/c/{{key}}" }\n  lookup: { path: "/c?k={{key}}" }`),
      /endpoints\.lookup\): an upsert finds the record by its key itself/,
    );
  });

  test("placeholders where they have no value are refused", () => {
    const safe = "idempotency_header: Idempotency-Key\n";
    assert.match(
      refused(`${HEAD}${safe}endpoints:\n  create: { path: "/c/{{remote_id}}" }\n  update: { path: "/c/{{remote_id}}" }`),
      /endpoints\.create\.path\): \{\{remote_id\}\} cannot be used here: a create has no remote id yet/,
    );
    assert.match(
      refused(`${HEAD}endpoints:\n  upsert: { path: "/c/{{key}}", body: { all: "{{records}}" } }`),
      /upsert\.body\.all\): \{\{records\}\} cannot be used here: only the body of a batch request holds \{\{records\}\}/,
    );
    assert.match(
      refused(`${HEAD}mode: batch\nendpoints:\n  upsert: { path: "/c/{{key}}" }`),
      /upsert\.path\): \{\{key\}\} cannot be used here: a batch request's path and body are shared by its records: put what each/,
    );
    assert.match(
      refused(`${HEAD}mode: batch\nendpoints:\n  upsert: { path: /c, body: { n: 1 } }`),
      /upsert\.body\): the body of a batch request must hold \{\{records\}\} once/,
    );
    assert.match(
      refused(`${HEAD}mode: batch\nendpoints:\n  upsert: { path: /c, body: "ids={{records}}" }`),
      /upsert\.body\): \{\{records\}\} is an array: write it as a whole value/,
    );
    assert.match(refused(`${HEAD}endpoints:\n  upsert: { path: "/c/{{properties}}" }`), /\{\{properties\}\} is not a value for a URL/);
    assert.match(refused(`${HEAD}endpoints:\n  upsert: { path: "/c/{{key}}", record_body: "{{key}}" }`), /upsert\.record_body\): record_body is for batch requests/);
    assert.match(
      refused(`${HEAD}mode: batch\nendpoints:\n  upsert: { path: /c }\n  delete: { method: POST, path: /d, body: { ids: "{{records}}" } }`),
      /delete\.record_body\): a batch delete needs record_body/,
    );
  });

  test("mode and results settings that do not go together", () => {
    const upsert = "endpoints:\n  upsert: { path: \"/c/{{key}}\" }\n";
    assert.match(refused(`${HEAD}max_batch_size: 10\n${upsert}`), /\(destinations\.crm\.max_batch_size\): max_batch_size is for mode: batch/);
    assert.match(refused(`${HEAD}${upsert}results: { match_by: key, key_field: id }`), /results\.match_by\): match_by and key_field are for mode: batch/);
    assert.match(refused(`${HEAD}mode: batch\n${upsert.replace("/c/{{key}}", "/c")}results: { match_by: key }`), /results\.key_field\): match_by: key needs key_field/);
    assert.match(refused(`${HEAD}${upsert}results: { path: "a..b" }`), /expected a dotted path/);
    assert.match(refused(`${HEAD}${upsert}idempotency_header: "Idempotency Key"`), /expected an HTTP header name/);
    assert.match(refused(`type: rest\nbase_url: not a url\nauth: { type: none }\n${upsert}`), /expected a URL such as https:\/\/api\.example\.com\/v1/);
  });

  test("exports a JSON Schema for editors, with descriptions", () => {
    const json = inputJsonSchema(restDestinationSchema) as { properties: Record<string, { description?: string }> };
    for (const field of ["base_url", "auth", "mode", "max_batch_size", "endpoints", "results", "idempotency_header"]) {
      assert.ok(json.properties[field]?.description, field);
    }
  });
});
