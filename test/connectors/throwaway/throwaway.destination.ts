/**
 * A destination that exists only to prove how connectors are added: it appends each change as a JSON line
 * to `<folder>/<name>.jsonl`, has a credential field, and checks its folder with a `validate` hook.
 */
import { appendFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { secretRef } from "../../../src/config/secrets.ts";
import type { Destination, DestinationContext, DestinationDefinition } from "../../../src/destinations/destination.ts";
import { ConfigError } from "../../../src/errors.ts";

const throwawayDestinationSchema = z.strictObject({
  type: z.literal("throwaway"),
  folder: z.string().min(1).describe("A folder of the project the changes are written to."),
  api_key: secretRef.describe("The throwaway API's key."),
});

type ThrowawayDestinationConfig = z.output<typeof throwawayDestinationSchema>;

function createThrowawayDestination(name: string, config: ThrowawayDestinationConfig, context: DestinationContext): Destination {
  const key = context.secret("api_key", config.api_key);
  const file = path.join(context.baseDir, config.folder, `${name}.jsonl`);
  return {
    name,
    maxBatchSize: 50,
    concurrency: 1,
    async write(items) {
      if (key.reveal() === "") throw new Error("the throwaway key is empty");
      await mkdir(path.dirname(file), { recursive: true });
      await appendFile(file, items.map((i) => `${JSON.stringify({ op: i.op, key: i.key, properties: i.properties })}\n`).join(""));
      return items.map((i) => ({ outboxId: i.outboxId, ok: true, remoteId: i.key, action: i.op === "delete" ? "deleted" : "created" }));
    },
    async close() {},
  };
}

export const throwawayDestination: DestinationDefinition<ThrowawayDestinationConfig> = {
  type: "throwaway",
  configSchema: throwawayDestinationSchema,
  validate(config, context) {
    if (!path.isAbsolute(config.folder)) return [];
    return [new ConfigError("CONFIG_INVALID", "folder must be inside the project: give a relative path", context.at("folder"))];
  },
  create: createThrowawayDestination,
};
