/**
 * A source that exists only to prove how connectors are added: its rows come from its own config, and it
 * has a credential field, which must stay a reference until the source resolves it. Snapshot only.
 */
import { z } from "zod";
import { secretRef } from "../../../src/config/secrets.ts";
import type { Source, SourceContext, SourceDefinition } from "../../../src/sources/source.ts";

const throwawaySourceSchema = z.strictObject({
  type: z.literal("throwaway"),
  token: secretRef.describe("The throwaway system's token."),
  rows: z.array(z.record(z.string(), z.string())).describe("The rows the source returns, in order."),
});

type ThrowawaySourceConfig = z.output<typeof throwawaySourceSchema>;

function createThrowawaySource(config: ThrowawaySourceConfig, context: SourceContext): Source {
  const token = context.secret("token", config.token);
  return {
    describe: `throwaway (${config.rows.length} rows)`,
    commitUnit: "batch",
    async* read() {
      // The token is what a real connector would log in with: it must be resolved, and it is never read out.
      if (token.reveal() === "") throw new Error("the throwaway token is empty");
      const columns = [...new Set(config.rows.flatMap((r) => Object.keys(r)))];
      yield { rows: config.rows.map((values, i) => ({ values, line: i + 1 })), rejects: [], columns };
    },
    async close() {},
  };
}

export const throwawaySource: SourceDefinition<ThrowawaySourceConfig> = {
  type: "throwaway",
  configSchema: throwawaySourceSchema,
  modes: ["snapshot"],
  columnsFrom: "rows",
  create: createThrowawaySource,
};
