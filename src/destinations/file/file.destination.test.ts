/**
 * The `file` destination into a local folder: the files' exact contents (CSV and JSONL), their names, one
 * file per entity, a resend replacing its file, and failures that leave nothing behind.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { PermanentError, TransientError } from "../../errors.ts";
import { silentLogger } from "../../log.ts";
import type { DeliveryItem, Destination } from "../destination.ts";
import { fileDestinationSchema } from "./file.config.ts";
import { escapeFormula } from "./file.content.ts";
import { createFileDestination, fileDestination } from "./file.destination.ts";
import { runContext } from "../../run-context.ts";

function item(outboxId: number, key: string, properties: DeliveryItem["properties"], over: Partial<DeliveryItem> = {}): DeliveryItem {
  return {
    outboxId,
    entity: "customer",
    key,
    op: "upsert",
    object: "customers",
    match: { property: "customer_no", value: key },
    properties: { customer_no: key, ...properties },
    changed: Object.keys(properties),
    remoteId: null,
    idempotencyKey: `idem-${outboxId}`,
    ...over,
  };
}

const signal = new AbortController().signal;
const AT = new Date("2024-03-05T23:30:00Z");

describe("file destination, local folder", () => {
  let dir: string;
  let open: Destination[];

  const make = (config: Record<string, unknown>, now = () => AT) => {
    const parsed = fileDestinationSchema.parse({ type: "file", target: { folder: "out" }, ...config });
    const d = createFileDestination("legacy_erp", parsed, runContext({ log: silentLogger, env: {}, baseDir: dir, file: "ferry.yaml", block: "destinations.legacy_erp" }), { now });
    open.push(d);
    return d;
  };
  const out = (...parts: string[]) => path.join(dir, "out", ...parts);
  const files = () => readdirSync(out()).sort();

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "ferry-file-dest-"));
    open = [];
  });
  afterEach(async () => {
    await Promise.all(open.map((d) => d.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  test("CSV: header, Ferry's columns, quoting, formula cells escaped, deletes carry only the key", async () => {
    const d = make({});
    assert.equal(d.maxBatchSize, 10_000);
    assert.equal(d.concurrency, 1);
    const items = [
      item(7, "C1", { name: "Acme, Inc.", note: "said \"hi\"", credit: -12.5, active: true, since: null }),
      item(8, "C2", { name: "=HYPERLINK(\"http://x\")", note: "two\nlines", credit: "-100.00", active: false, since: "2024-01-31" }),
      item(9, "C3", { name: "+1 555", note: "@home", credit: "-1+1", active: null, since: "\tx" }),
      item(12, "C4", { name: "Gone Ltd", note: "x", credit: 1, active: true, since: null }, { op: "delete" }),
    ];
    const results = await d.write(items, signal);
    const name = "customer-000000000007-000000000012.csv";
    assert.deepEqual(files(), [name]);
    assert.deepEqual(
      results,
      [7, 8, 9, 12].map((outboxId) => ({ outboxId, ok: true, remoteId: name, action: outboxId === 12 ? "deleted" : "created" })),
    );
    assert.equal(
      readFileSync(out(name), "utf8"),
      [
        "_op,_key,_idempotency_key,customer_no,name,note,credit,active,since",
        "upsert,C1,idem-7,C1,\"Acme, Inc.\",\"said \"\"hi\"\"\",-12.5,true,",
        "upsert,C2,idem-8,C2,\"'=HYPERLINK(\"\"http://x\"\")\",\"two\nlines\",-100.00,false,2024-01-31",
        "upsert,C3,idem-9,C3,'+1 555,'@home,'-1+1,,'\tx",
        "delete,C4,idem-12,C4,,,,,",
        "",
      ].join("\n"),
    );
  });

  test("JSONL: one object per line with JSON types; a delete holds only its key", async () => {
    const d = make({ format: { format: "jsonl" } });
    const results = await d.write(
      [
        item(1, "C1", { name: "=SUM(A1)", credit: -12.5, active: true, since: null }),
        item(2, "C2", { name: "Gone" }, { op: "delete" }),
      ],
      signal,
    );
    const name = "customer-000000000001-000000000002.jsonl";
    assert.deepEqual(files(), [name]);
    assert.deepEqual(results.map((r) => r.ok && r.action), ["created", "deleted"]);
    assert.equal(
      readFileSync(out(name), "utf8"),
      "{\"_op\":\"upsert\",\"_key\":\"C1\",\"_idempotency_key\":\"idem-1\",\"customer_no\":\"C1\",\"name\":\"=SUM(A1)\",\"credit\":-12.5,\"active\":true,\"since\":null}\n"
      + "{\"_op\":\"delete\",\"_key\":\"C2\",\"_idempotency_key\":\"idem-2\",\"customer_no\":\"C2\"}\n",
    );
  });

  test("delimiter, no header, chosen columns, formulas left as they are, a name with {destination} and {date}", async () => {
    const d = make({
      format: { format: "csv", delimiter: ";", header: false },
      columns: ["name", "customer_no"],
      escape_formulas: false,
      file_name: "{destination}_{date}_{first}.txt",
    });
    await d.write([item(3, "C1", { name: "a;b", email: "ignored@x" }), item(4, "C2", { name: "=1+1" })], signal);
    assert.deepEqual(files(), ["legacy_erp_20240305_000000000003.txt"]);
    assert.equal(readFileSync(out(files()[0]!), "utf8"), "upsert;C1;idem-3;\"a;b\";C1\nupsert;C2;idem-4;=1+1;C2\n");
  });

  test("a batch of two entities makes two files, each with its own columns", async () => {
    const d = make({});
    const results = await d.write(
      [
        item(10, "C1", { name: "One" }),
        item(11, "P1", { sku: "P1", price: "9.90" }, { entity: "product", match: { property: "sku", value: "P1" }, properties: { sku: "P1", price: "9.90" } }),
        item(13, "C2", { name: "Two" }),
      ],
      signal,
    );
    assert.deepEqual(files(), ["customer-000000000010-000000000013.csv", "product-000000000011-000000000011.csv"]);
    assert.equal(readFileSync(out("product-000000000011-000000000011.csv"), "utf8"), "_op,_key,_idempotency_key,sku,price\nupsert,P1,idem-11,P1,9.90\n");
    assert.deepEqual(
      results.map((r) => [r.outboxId, r.ok && r.remoteId]),
      [
        [10, "customer-000000000010-000000000013.csv"],
        [13, "customer-000000000010-000000000013.csv"],
        [11, "product-000000000011-000000000011.csv"],
      ],
    );
  });

  test("a resend of the same items (a crash before Ferry recorded the delivery) replaces its file", async () => {
    const items = [item(20, "C1", { name: "First" }), item(21, "C2", { name: "Second" })];
    await make({}).write(items, signal);
    // A new process, on the next day: the name does not depend on when it is written.
    const again = await make({}, () => new Date("2024-03-06T00:10:00Z")).write(items, signal);
    assert.deepEqual(files(), ["customer-000000000020-000000000021.csv"]);
    assert.equal(again.length, 2);
    assert.equal(readFileSync(out(files()[0]!), "utf8").split("\n").length, 4, "header, two lines, end");
  });

  test("a partial file left by a crash is replaced and never left behind", async () => {
    mkdirSync(out(), { recursive: true });
    writeFileSync(out(".customer-000000000001-000000000001.csv.partial"), "half a fi");
    await make({}).write([item(1, "C1", { name: "A" })], signal);
    assert.deepEqual(files(), ["customer-000000000001-000000000001.csv"]);
  });

  test("a relative folder is created under the project's folder; an absolute one is used as it is", async () => {
    const absolute = path.join(dir, "abs", "deep");
    await make({ target: { folder: "nested/exports" } }).write([item(1, "C1", {})], signal);
    await make({ target: { folder: absolute } }).write([item(2, "C2", {})], signal);
    assert.deepEqual(readdirSync(path.join(dir, "nested", "exports")), ["customer-000000000001-000000000001.csv"]);
    assert.deepEqual(readdirSync(absolute), ["customer-000000000002-000000000002.csv"]);
  });

  test("a write that fails leaves no partial file, no final file, and throws a TransientError", async () => {
    const name = "customer-000000000005-000000000005.csv";
    // A folder where the file should go: writing the temporary file works, putting it in place does not.
    mkdirSync(out(name), { recursive: true });
    const d = make({});
    await assert.rejects(d.write([item(5, "C1", { name: "A" })], signal), (e: unknown) => {
      assert.ok(e instanceof TransientError, String(e));
      assert.equal(e.code, "DEST_UNAVAILABLE");
      assert.match(e.message, /writing customer-000000000005-000000000005\.csv in .*out failed: .*The items stay pending/);
      return true;
    });
    assert.deepEqual(files(), [name]);
    assert.deepEqual(readdirSync(out(name)), [], "nothing written into the folder in the way");
  });

  test("a folder that cannot be created is a PermanentError naming it", async () => {
    writeFileSync(path.join(dir, "not-a-folder"), "");
    const d = make({ target: { folder: "not-a-folder/exports" } });
    await assert.rejects(d.write([item(1, "C1", {})], signal), (e: unknown) => {
      assert.ok(e instanceof PermanentError, String(e));
      assert.equal(e.code, "DEST_FILE_FOLDER");
      assert.ok(e.message.includes(path.join(dir, "not-a-folder", "exports")), e.message);
      assert.match(e.message, /Create the folder or give the user Ferry runs as the right to write in it, or change target\.folder$/);
      return true;
    });
  });

  test("an empty batch writes nothing; an aborted one throws before writing", async () => {
    const d = make({});
    assert.deepEqual(await d.write([], signal), []);
    const aborted = AbortSignal.abort();
    await assert.rejects(d.write([item(1, "C1", {})], aborted), { name: "AbortError" });
    assert.deepEqual(readdirSync(dir), []);
  });

  test("the definition parses its config and creates the destination", async () => {
    assert.equal(fileDestination.type, "file");
    const config = fileDestination.configSchema.parse({ type: "file", target: { folder: "out" } });
    const d = fileDestination.create("erp", config, runContext({ log: silentLogger, env: {}, baseDir: dir, file: "ferry.yaml", block: "destinations.erp" }));
    open.push(d);
    const [result] = await d.write([item(1, "C1", {})], signal);
    assert.equal(result?.ok && result.remoteId, "customer-000000000001-000000000001.csv");
  });
});

test("formula escaping: leading = + - @ tab and CR are escaped; plain numbers and other text are not", () => {
  const cases: [string, string][] = [
    ["=1+1", "'=1+1"],
    ["+33 1 23", "'+33 1 23"],
    ["-cmd", "'-cmd"],
    ["@SUM(A1)", "'@SUM(A1)"],
    ["\t=1", "'\t=1"],
    ["\r=1", "'\r=1"],
    ["-12.50", "-12.50"],
    ["+7", "+7"],
    ["-1e5", "-1e5"],
    ["-", "'-"],
    ["a=b", "a=b"],
    ["", ""],
  ];
  for (const [cell, expected] of cases) assert.equal(escapeFormula(cell), expected, JSON.stringify(cell));
});
