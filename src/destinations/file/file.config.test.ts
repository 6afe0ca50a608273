/**
 * The `file` destination's configuration as a user writes it in ferry.yaml: defaults, and the refusals
 * with the messages the loader shows (file, line, field).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { z } from "zod";
import { inputJsonSchema } from "../../config/json-schema.ts";
import { parseConfigFile } from "../../config/yaml.ts";
import { ConfigError } from "../../errors.ts";
import { fileDestinationSchema, fileNameTemplateProblem } from "./file.config.ts";

const HOST_KEY = `SHA256:${"A".repeat(43)}`;

/** The destination as a ferry.yaml entry, validated by the same schema the loader uses. */
function load(yaml: string) {
  const schema = z.strictObject({ destinations: z.record(z.string(), fileDestinationSchema) });
  return parseConfigFile("ferry.yaml", `destinations:\n  erp:\n${yaml.replace(/^/gm, "    ")}\n`, schema).destinations.erp!;
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

describe("file destination config", () => {
  test("defaults: CSV with a header, the default name, formulas escaped, 10 000 changes a file", () => {
    assert.deepEqual(load("type: file\ntarget: { folder: exports }"), {
      type: "file",
      format: { format: "csv", delimiter: ",", header: true, encoding: "utf8" },
      target: { folder: "exports" },
      file_name: "{entity}-{first}-{last}.{ext}",
      escape_formulas: true,
      max_batch_size: 10_000,
    });
  });

  test("an SFTP target takes the sftp source's login fields and defaults", () => {
    const config = load(
      `type: file\nformat: { format: jsonl }\ntarget:\n  sftp: { host: files.example, username: ferry, password: "\${env:PW}", host_key: "${HOST_KEY}", folder: /in }`,
    );
    assert.deepEqual(config.target, {
      sftp: { host: "files.example", port: 22, username: "ferry", password: "${env:PW}", host_key: HOST_KEY, folder: "/in", connect_timeout: "20s", transfer_timeout: "60s" },
    });
    assert.deepEqual(config.format, { format: "jsonl" });
  });

  test("a name template must hold {first} and be a plain file name", () => {
    assert.match(refused("type: file\ntarget: { folder: x }\nfile_name: \"{entity}-{date}.csv\""), /ferry\.yaml:5:\d+ \(destinations\.erp\.file_name\): the name must contain \{first\}.*resend/);
    assert.match(refused("type: file\ntarget: { folder: x }\nfile_name: \"out/{first}.csv\""), /file_name\): a file name, not a path: no \//);
    assert.match(refused("type: file\ntarget: { folder: x }\nfile_name: \"..{first}.csv\""), /no \.\. in a file name/);
    assert.match(refused("type: file\ntarget: { folder: x }\nfile_name: \"{first}-{time}.csv\""), /unknown placeholder \{time\}: the placeholders are \{destination\}, \{entity\}/);
    assert.equal(fileNameTemplateProblem("{destination}_{entity}_{date}_{first}-{last}.{ext}"), null);
    assert.match(fileNameTemplateProblem("{first}}.csv") ?? "", /a \{ or \} that is not part of a placeholder/);
    assert.match(fileNameTemplateProblem(".{first}.csv") ?? "", /hidden/);
  });

  test("an SFTP target without a pinned host key is refused unless it opts out", () => {
    const sftp = "type: file\ntarget:\n  sftp:\n    host: h\n    username: u\n    password: \"${env:PW}\"\n    folder: /in";
    assert.match(refused(sftp), /\(destinations\.erp\.target\.sftp\.host_key\): pin the server's host key \(host_key: SHA256:/);
    assert.equal(load(`${sftp}\n    insecure_accept_any_host_key: true`).target.sftp?.insecure_accept_any_host_key, true);
    assert.match(refused(`${sftp}\n    insecure_accept_any_host_key: true\n    host_key: "${HOST_KEY}"`), /host_key is pinned: remove insecure_accept_any_host_key/);
  });

  test("SFTP credentials are secret references, and one is required", () => {
    const base = `type: file\ntarget:\n  sftp:\n    host: h\n    username: u\n    host_key: "${HOST_KEY}"\n    folder: /in`;
    const literal = refused(`${base}\n    password: hunter2hunter2`);
    assert.match(literal, /target\.sftp\.password\): a literal secret is not allowed here/);
    assert.ok(!literal.includes("hunter2"), "the value is not echoed");
    assert.match(refused(base), /target\.sftp\.password\): give password or private_key/);
    assert.ok(load(`${base}\n    private_key: "\${file:keys/id_ed25519}"`).target.sftp?.private_key);
  });

  test("a target is a folder or an SFTP server, not both nor neither", () => {
    assert.match(refused("type: file\ntarget: {}"), /\(destinations\.erp\.target\): give either folder: .* or sftp:/);
    assert.match(
      refused(`type: file\ntarget: { folder: x, sftp: { host: h, username: u, password: "\${env:P}", host_key: "${HOST_KEY}", folder: /in } }`),
      /not both/,
    );
    assert.match(refused("type: file\ntarget: { path: x }"), /unknown key "path"/);
  });

  test("columns, format and batch size are checked", () => {
    assert.match(refused("type: file\ntarget: { folder: x }\ncolumns: [name, _key]"), /columns\[1\]\): _key is one of the columns Ferry writes itself/);
    assert.match(refused("type: file\ntarget: { folder: x }\ncolumns: [name, name]"), /name is listed twice/);
    assert.match(refused("type: file\ntarget: { folder: x }\nformat: { format: xml }"), /format/);
    assert.match(refused("type: file\ntarget: { folder: x }\nformat: { format: csv, delimiter: \"\\\"\" }"), /cannot contain a quote/);
    assert.match(refused("type: file\ntarget: { folder: x }\nformat: { format: csv, encoding: latin1 }"), /encoding/);
    assert.match(refused("type: file\ntarget: { folder: x }\nmax_batch_size: 100001"), /max_batch_size/);
  });

  test("every field is described, for editors", () => {
    type Node = { description?: string; properties?: Record<string, Node>; anyOf?: Node[]; oneOf?: Node[] };
    const undescribed: string[] = [];
    const walk = (node: Node, at: string) => {
      for (const [name, field] of Object.entries(node.properties ?? {})) {
        if (!field.description && name !== "type") undescribed.push(`${at}${name}`);
        walk(field, `${at}${name}.`);
      }
      for (const branch of [...(node.anyOf ?? []), ...(node.oneOf ?? [])]) walk(branch, at);
    };
    walk(inputJsonSchema(fileDestinationSchema) as Node, "");
    assert.deepEqual(undescribed, []);
  });
});
