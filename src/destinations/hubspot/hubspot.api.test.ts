import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type FerryError, PermanentError, TransientError } from "../../errors.ts";
import type { DeliveryItem } from "../destination.ts";
import { type BatchResponse, sendSplitting, toHubSpotProperties } from "./hubspot.api.ts";

const item = (outboxId: number): DeliveryItem => ({
  outboxId,
  entity: "customer",
  key: String(outboxId),
  op: "upsert",
  object: "contacts",
  match: { property: "email", value: `${outboxId}@example.com` },
  properties: {},
  changed: [],
  remoteId: null,
  idempotencyKey: `k${outboxId}`,
});

describe("HubSpot api", () => {
  it("turns values into HubSpot's text properties, null clearing one, only those asked for", () => {
    assert.deepEqual(toHubSpotProperties({ a: 1, b: null, c: true, d: "x" }), { a: "1", b: "", c: "true", d: "x" });
    assert.deepEqual(toHubSpotProperties({ a: 1, b: null, c: true }, ["b", "z"]), { b: "" });
  });

  it("splits a batch HubSpot refuses whole until the refused record is alone, and sends the others", async () => {
    const refused = new PermanentError("DEST_REJECTED", "bad email");
    const done: number[] = [];
    const failed: [number, FerryError][] = [];
    await sendSplitting(
      [1, 2, 3, 4, 5].map(item),
      async (batch) => {
        if (batch.some((i) => i.outboxId === 4)) throw refused;
        return { results: [] } satisfies BatchResponse;
      },
      (batch) => done.push(...batch.map((i) => i.outboxId)),
      (i, error) => failed.push([i.outboxId, error]),
    );
    assert.deepEqual(done.sort(), [1, 2, 3, 5]);
    assert.deepEqual(failed, [[4, refused]]);
  });

  it("throws what blames HubSpot instead of failing the records", async () => {
    const down = new TransientError("DEST_UNAVAILABLE", "HubSpot answered 503");
    await assert.rejects(
      sendSplitting([item(1), item(2)], async () => Promise.reject(down), () => {}, () => assert.fail("no record is to blame")),
      down,
    );
  });
});
