/**
 * `ferry.yaml`: the project: where state lives, the connections jobs name, and the destinations mappings
 * feed. Credentials appear here only as references (`${env:NAME}`, `${file:PATH}`).
 */
import { z } from "zod";
import { type ConnectorSpec, oneOfTypes, type SourceSpec } from "./connector.ts";
import { durationMs, durationSchema } from "./duration.ts";
import { secretRef } from "./secrets.ts";

export const stateSchema = z.union([
  z.strictObject({ path: z.string().min(1).describe("SQLite state file, relative to ferry.yaml.") }),
  z.strictObject({ url: z.string().min(1).describe("PostgreSQL URL, e.g. ${env:FERRY_STATE_URL}.") }),
]);

/** Whether a duration lies between `minMs` and `maxMs`; one that is not a duration is left to the format's own message. */
function between(minMs: number, maxMs = Infinity): (text: string) => boolean {
  return (text) => {
    try {
      const ms = durationMs(text);
      return ms >= minMs && ms <= maxMs;
    } catch {
      return true;
    }
  };
}

/** How the run lease that keeps a job from running twice at once (in any process, on any host) behaves. */
export const runLeaseSchema = z
  .strictObject({
    expiry: durationSchema(
      "A run's lease is renewed every third of this; one not renewed for this long was left by a process that died, and the job's next run takes it over.",
      "30s",
    ).refine(between(1_000), "expected at least 1s"),
  })
  .default({ expiry: "30s" });

/** How `ferry serve` works: how often it delivers, and, with PostgreSQL state (several workers), its queue. */
export const serveSchema = z
  .strictObject({
    delivery_every: durationSchema("How often `ferry serve` delivers what is due (retries, new changes).", "15s").refine(
      between(100),
      "expected at least 100ms",
    ),
    poll: durationSchema("PostgreSQL state: how often an idle worker asks the queue for work.", "2s").refine(
      between(500),
      "expected at least 500ms",
    ),
    schedule_check: durationSchema(
      "PostgreSQL state: how often the cluster looks for schedule occurrences that came due; an occurrence runs at most this late.",
      "30s",
    ).refine(between(1_000, 45_000), "expected 1s to 45s"),
  })
  .default({ delivery_every: "15s", poll: "2s", schedule_check: "30s" });

/** Where `ferry serve` serves the operator console and its API. */
export const httpSchema = z
  .strictObject({
    listen: z
      .string()
      .regex(/^(\[[0-9a-fA-F:]+\]|[\w.-]+):\d{1,5}$/, "expected host:port, such as 127.0.0.1:8080")
      .default("127.0.0.1:8080")
      .describe("host:port of the console and its API; an address other than loopback needs `tls` (or `insecure: true`)."),
    tls: z
      .strictObject({
        cert: z.string().min(1).describe("PEM certificate file, relative to ferry.yaml."),
        key: z.string().min(1).describe("PEM private key file, relative to ferry.yaml."),
      })
      .optional()
      .describe("Serve over HTTPS (cookies then `Secure`)."),
    insecure: z.boolean().default(false).describe("Allow plain HTTP on an address other than loopback (behind a TLS proxy)."),
    enabled: z.boolean().default(true).describe("false: `ferry serve` serves no console."),
    metrics_token: secretRef.optional().describe("A reference (${env:...}): /metrics then needs it as `Authorization: Bearer`."),
  })
  .default({ listen: "127.0.0.1:8080", insecure: false, enabled: true });

/** How long history is kept: `ferry prune`, and `ferry serve` once a day. */
export const retentionSchema = z
  .strictObject({
    runs: durationSchema("Runs older than this go, with their log lines (each job's last run stays).", "180d").refine(between(86_400_000), "expected at least 1d"),
    rejects: durationSchema("Rejected rows of runs older than this.", "90d").refine(between(86_400_000), "expected at least 1d"),
    delivered: durationSchema("Outbox rows delivered or superseded longer ago than this.", "30d").refine(between(86_400_000), "expected at least 1d"),
    dead_letters: durationSchema("Dead-letter entries resolved (replayed, discarded) longer ago than this.", "180d").refine(between(86_400_000), "expected at least 1d"),
    audit: durationSchema("Audit entries older than this; kept longest.", "365d").refine(between(86_400_000), "expected at least 1d"),
  })
  .default({ runs: "180d", rejects: "90d", delivered: "30d", dead_letters: "180d", audit: "365d" });

/** A destination's block in ferry.yaml: `type` names a registered destination, whose schema checked the rest. */
export type DestinationConfig = { type: string } & Record<string, unknown>;
/** A `connections:` entry: `dialect` names what the source that reads through it connects to. */
export type ConnectionConfig = { dialect: string } & Record<string, unknown>;

/** The schema of ferry.yaml, its `connections:` and `destinations:` taken from the registered connectors. */
export function projectSchemaFor(sources: readonly SourceSpec[], destinations: readonly ConnectorSpec[]) {
  const connectionSchemas = sources.flatMap((s) => (s.connectionSchema ? [s.connectionSchema] : []));
  const connection: z.ZodType<ConnectionConfig> =
    connectionSchemas.length === 0
      ? z.never({ error: "no registered source reads through connections" })
      : connectionSchemas.length === 1
        ? (connectionSchemas[0] as z.ZodType<ConnectionConfig>)
        : oneOfTypes<ConnectionConfig>(connectionSchemas, "dialect");
  return z.strictObject({
    state: stateSchema.default({ path: ".ferry/state.db" }),
    run_lease: runLeaseSchema,
    serve: serveSchema,
    http: httpSchema,
    retention: retentionSchema,
    jobs_dir: z.string().default("jobs"),
    mappings_dir: z.string().default("mappings"),
    connections: z.record(z.string(), connection).default({}),
    destinations: z
      .record(z.string(), oneOfTypes<DestinationConfig>(destinations.map((d) => d.configSchema), "type"))
      .default({}),
  });
}

export type ProjectConfig = z.output<ReturnType<typeof projectSchemaFor>>;
export type StateConfig = z.output<typeof stateSchema>;
