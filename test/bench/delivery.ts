/**
 * `npm run bench -- --suite delivery`: delivery of 100k changes (new records) from the outbox to the HubSpot
 * and Salesforce emulators, each limited to a fixed request rate that it enforces with 429 (HubSpot) or
 * 403 REQUEST_LIMIT_EXCEEDED (Salesforce). Ferry's limit is set to the same rate. It prints the request rate
 * achieved as a share of the allowed rate, the requests refused for rate and retried, and checks the
 * emulators' ledgers: records lost, records created twice. It never fails on a timing.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startHubSpotEmulator } from "../../fixtures/hubspot-emulator/emulator.ts";
import { startSalesforceEmulator } from "../../fixtures/salesforce-emulator/emulator.ts";
import { createDestinations } from "../../src/cli/context.ts";
import { loadProject } from "../../src/project.ts";
import { deliverAll } from "../../src/delivery/deliver.ts";
import { silentLogger } from "../../src/log.ts";
import { enqueue, type OutboxWrite } from "../../src/state/outbox.repo.ts";
import { openStateStore } from "../../src/state/store.ts";

const root = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));

interface Figures {
  destination: string;
  changes: number;
  allowedPerSecond: number;
  seconds: number;
  requests: number;
  achievedPerSecond: number;
  share: number;
  refusedForRate: number;
  otherErrors: number;
  delivered: number;
  dead: number;
  lost: number;
  duplicated: number;
}

export async function benchDelivery(changes = 100_000, perSecond = 40): Promise<void> {
  const dir = path.join(root, ".ferry", "bench", "delivery");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, "mappings"), { recursive: true });
  mkdirSync(path.join(dir, "jobs"), { recursive: true });
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const window = { requests: perSecond, perMs: 1000 };
  const hubspot = await startHubSpotEmulator({ token: "bench-token-0001", rateLimit: window, logBodies: false, uniqueProperties: { contacts: ["item_no"] } });
  const salesforce = await startSalesforceEmulator({
    objects: { Account: { externalIdFields: ["Item_No__c"] } },
    jwt: [{ clientId: "bench", username: "bench@example.com", publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString() }],
    rateLimit: window,
    logBodies: false,
  });
  writeFileSync(
    path.join(dir, "ferry.yaml"),
    `state: { path: state.db }
destinations:
  hubspot:
    type: hubspot
    base_url: \${env:HS_URL}
    token: \${env:HS_TOKEN}
    rate_limit: { requests: ${perSecond}, per_seconds: 1 }
  salesforce:
    type: salesforce
    login_url: \${env:SF_URL}
    oauth: { flow: jwt_bearer, client_id: bench, username: bench@example.com, private_key: "\${env:SF_KEY}" }
    rate_limit: { requests: ${perSecond}, per_seconds: 1 }
`,
  );
  writeFileSync(
    path.join(dir, "mappings", "item.yaml"),
    `entity: item
key: item_no
fields:
  item_no: { type: string }
  name: { type: string }
  city: { type: string }
sources:
  erp: { item_no: ITEM_NO, name: NAME, city: CITY }
destinations:
  hubspot: { object: contacts, match: { property: item_no }, fields: { item_no: item_no, name: firstname, city: city } }
  salesforce: { object: Account, match: { property: Item_No__c }, fields: { item_no: Item_No__c, name: Name, city: City__c } }
`,
  );
  const env = {
    ...process.env,
    HS_URL: hubspot.url,
    HS_TOKEN: "bench-token-0001",
    SF_URL: salesforce.url,
    SF_KEY: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
  const project = loadProject(path.join(dir, "ferry.yaml"), env);
  const store = await openStateStore(project.config.state, project.dir);
  const at = new Date().toISOString();
  for (const [destination, props] of [
    ["hubspot", (i: number) => ({ item_no: `I${i}`, firstname: `Item ${i}`, city: "Lyon" })],
    ["salesforce", (i: number) => ({ Item_No__c: `I${i}`, Name: `Item ${i}`, City__c: "Lyon" })],
  ] as const) {
    for (let from = 1; from <= changes; from += 5000) {
      const intents: OutboxWrite[] = [];
      for (let i = from; i < from + 5000 && i <= changes; i++) {
        const properties = props(i);
        intents.push({ destination, entity: "item", key: `I${i}`, version: 1, op: "upsert", properties, changed: Object.keys(properties) });
      }
      await store.knex.transaction((tx) => enqueue(tx, null, at, intents));
    }
  }

  const results: Figures[] = [];
  for (const name of ["salesforce", "hubspot"] as const) {
    const destinations = createDestinations(project, silentLogger, [name]);
    const started = performance.now();
    const tally = (await deliverAll(project, store, destinations, { log: silentLogger, waitForRetriesMs: 60_000 })).get(name)!;
    const seconds = (performance.now() - started) / 1000;
    for (const d of destinations.values()) await d.close();
    const emulator = name === "hubspot" ? hubspot : salesforce;
    const log = emulator.requests.filter((r) => !r.path.includes("oauth"));
    const ok = log.filter((r) => r.status >= 200 && r.status < 300).length;
    const refused = log.filter((r) => r.status === 429 || r.status === 403).length;
    const object = name === "hubspot" ? "contacts" : "Account";
    const live = name === "hubspot" ? hubspot.records("contacts").length : salesforce.records("Account").length;
    results.push({
      destination: name,
      changes,
      allowedPerSecond: perSecond,
      seconds: Number(seconds.toFixed(1)),
      requests: ok,
      achievedPerSecond: Number((ok / seconds).toFixed(1)),
      share: Number((ok / seconds / perSecond).toFixed(3)),
      refusedForRate: refused,
      otherErrors: log.length - ok - refused,
      delivered: tally.delivered,
      dead: tally.dead,
      lost: changes - live,
      duplicated: emulator.ledger.duplicateCreates(object).length,
    });
    console.log(JSON.stringify(results.at(-1)));
  }
  await store.close();
  await hubspot.close();
  await salesforce.close();
  console.log("\ndelivery of %d changes, each emulator limited to %d requests/s:", changes, perSecond);
  for (const r of results) {
    console.log(
      `  ${r.destination.padEnd(10)} ${r.requests} requests in ${r.seconds} s = ${r.achievedPerSecond}/s = ${(r.share * 100).toFixed(1)}% of the allowed rate; ` +
        `${r.refusedForRate} refused for rate (retried), ${r.otherErrors} other errors; delivered ${r.delivered}, dead ${r.dead}, lost ${r.lost}, created twice ${r.duplicated}`,
    );
  }
}
