import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { format, inspect } from "node:util";
import { z } from "zod";
import { ConfigError } from "../errors.ts";
import {
  isSecretReference,
  type ResolveContext,
  redact,
  resolveReferences,
  resolveSecret,
  resolveTree,
  Secret,
  secretRef,
} from "./secrets.ts";
import { parseConfigFile } from "./yaml.ts";

const dir = mkdtempSync(join(tmpdir(), "ferry-secrets-"));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "token.txt"), "s3cr3t-from-file\n");

const ctx: ResolveContext = {
  env: { HOST: "db.local", API_TOKEN: "s3cr3t-from-env" },
  baseDir: dir,
  where: { file: "ferry.yaml", path: "destinations.crm.token" },
};

function refusal(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error;
  }
  assert.fail("expected a ConfigError");
}

test("a reference is recognised only when it is the whole string", () => {
  assert.equal(isSecretReference("${env:API_TOKEN}"), true);
  assert.equal(isSecretReference("${file:secrets/token.txt}"), true);
  assert.equal(isSecretReference("Bearer ${env:API_TOKEN}"), false);
  assert.equal(isSecretReference("${env:API-TOKEN}"), false);
  assert.equal(isSecretReference("${vault:x}"), false);
  assert.equal(isSecretReference("hunter2"), false);
});

test("env and file references resolve; a file's one trailing newline is trimmed", () => {
  assert.equal(resolveReferences("${env:API_TOKEN}", ctx), "s3cr3t-from-env");
  assert.equal(resolveReferences("${file:token.txt}", ctx), "s3cr3t-from-file");
  assert.equal(resolveReferences(`\${file:${join(dir, "token.txt")}}`, ctx), "s3cr3t-from-file");
});

test("references embedded in a string are all replaced", () => {
  assert.equal(
    resolveReferences("http://${env:HOST}:8080/?t=${file:token.txt}", ctx),
    "http://db.local:8080/?t=s3cr3t-from-file",
  );
  assert.equal(resolveReferences("no references at all", ctx), "no references at all");
});

test("$${ writes a literal ${", () => {
  assert.equal(resolveReferences("price: $${env:HOST}", ctx), "price: ${env:HOST}");
  assert.equal(resolveReferences("$${ and ${env:HOST}", ctx), "${ and db.local");
});

test("a missing variable or file names the reference and where it is used", () => {
  const env = refusal(() => resolveReferences("Bearer ${env:CRM_TOKEN}", ctx));
  assert.equal(env.code, "CONFIG_SECRET_UNRESOLVED");
  assert.equal(
    env.message,
    "ferry.yaml (destinations.crm.token): environment variable CRM_TOKEN is not set (used as ${env:CRM_TOKEN}): set it before running Ferry",
  );
  const file = refusal(() => resolveReferences("${file:missing.txt}", ctx));
  assert.equal(file.code, "CONFIG_SECRET_UNRESOLVED");
  assert.equal(
    file.message,
    `ferry.yaml (destinations.crm.token): \${file:missing.txt}: file ${join(dir, "missing.txt")} does not exist`,
  );
  assert.equal(refusal(() => resolveReferences("${env:API_TOKEN", ctx)).code, "CONFIG_SECRET_INVALID");
});

test("secretRef accepts a reference and refuses a literal without echoing it", () => {
  const schema = z.strictObject({ token: secretRef, password: secretRef.optional() });
  assert.deepEqual(schema.parse({ token: "${env:API_TOKEN}", password: "${file:pw.txt}" }), {
    token: "${env:API_TOKEN}",
    password: "${file:pw.txt}",
  });
  const literal =
    "a literal secret is not allowed here: write a reference such as ${env:NAME} or ${file:path}";
  assert.equal(schema.safeParse({ token: "hunter2" }).error?.issues[0]?.message, literal);

  const error = refusal(() => parseConfigFile("ferry.yaml", "token: hunter2\npassword: 31337\n", schema));
  assert.equal(
    error.message,
    [
      `ferry.yaml:1:8 (token): ${literal}`,
      "ferry.yaml:2:11 (password): expected a secret reference such as ${env:NAME} or ${file:path}",
    ].join("\n"),
  );
  assert.doesNotMatch(JSON.stringify(error), /hunter2|31337/);
  assert.match(
    refusal(() => parseConfigFile("ferry.yaml", "token: ${env:MY-TOKEN}\n", schema)).message,
    /not a valid secret reference/,
  );
});

test("a Secret never prints its value, whatever formats it", () => {
  const secret = resolveSecret("${env:API_TOKEN}", ctx);
  assert.equal(secret.reveal(), "s3cr3t-from-env");
  const printed = [
    String(secret),
    `${secret}`,
    `token ${secret}`,
    JSON.stringify({ secret }),
    inspect(secret),
    inspect({ nested: { secret } }, { showHidden: true, depth: 5 }),
    format("%o", secret),
    format("%O %s %j", secret, secret, secret),
    format({ secret }),
  ];
  for (const text of printed) assert.doesNotMatch(text, /s3cr3t/, text);
  assert.equal(String(secret), "[secret]");
  assert.equal(JSON.stringify(secret), "\"[secret]\"");
  assert.ok(new Secret("x") instanceof Secret);
});

test("redact keeps nothing of a secret but a URL's scheme and host", () => {
  assert.equal(redact("s3cr3t"), "***");
  assert.equal(redact("postgres://ferry:pw@db.local:5432/crm"), "postgres://***@db.local:5432/***");
  assert.equal(redact("https://hooks.example.com/services/T0/B0/XYZ"), "https://hooks.example.com/***");
});

test("resolveTree resolves every string, leaves secret paths as references and does not touch its input", () => {
  const config = {
    url: "http://${env:HOST}:8080",
    tables: ["a", "${env:HOST}"],
    batch: 10,
    enabled: true,
    destinations: { crm: { token: "${env:API_TOKEN}", base: "${env:HOST}" } },
  };
  const resolved = resolveTree(config, { ...ctx, where: { file: "ferry.yaml" } }, ["destinations.*.token"]);
  assert.deepEqual(resolved, {
    url: "http://db.local:8080",
    tables: ["a", "db.local"],
    batch: 10,
    enabled: true,
    destinations: { crm: { token: "${env:API_TOKEN}", base: "db.local" } },
  });
  assert.equal(config.url, "http://${env:HOST}:8080");
  const error = refusal(() =>
    resolveTree({ jobs: [{ url: "${env:NOPE}" }] }, { ...ctx, where: { file: "ferry.yaml" } }),
  );
  assert.deepEqual(error.location, { file: "ferry.yaml", path: "jobs[0].url" });
});
