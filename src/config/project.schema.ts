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

/** A URL, or a string with references that will be one (`https://${env:HOOK_HOST}/ferry`). */
const httpUrlOrReference = (example: string) =>
  z
    .string()
    .refine(
      (v) => v.includes("${") || (URL.canParse(v) && /^https?:$/.test(new URL(v).protocol)),
      `expected an http(s) URL such as ${example}, or one built with a reference \${env:NAME}`,
    );

const channelTimeout = durationSchema(
  "How long one attempt to send a message may take; a message is tried 3 times, with backoff, then given up and logged.",
  "10s",
).refine(between(100, 120_000), "expected 100ms to 2m");

/** `type: webhook`: a JSON POST, its body signed with HMAC-SHA256 (header `X-Ferry-Signature`). */
export const webhookChannelSchema = z.strictObject({
  type: z.literal("webhook").describe("A JSON POST to a URL of yours, signed (X-Ferry-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>)."),
  url: httpUrlOrReference("https://hooks.example.com/ferry").describe("Where the POST goes."),
  secret: secretRef.describe(
    "The signing key: the header's v1 is the hex HMAC-SHA256, under this key, of \"<t>.<body>\" (t the header's unix seconds, body the bytes sent).",
  ),
  timeout: channelTimeout,
});

/** `type: slack`: a Slack incoming webhook, whose URL is its credential. */
export const slackChannelSchema = z.strictObject({
  type: z.literal("slack").describe("A message to a Slack channel through an incoming webhook ({text, blocks})."),
  url: secretRef.describe("The incoming webhook's URL (https://hooks.slack.com/services/...): a credential, so a reference."),
  timeout: channelTimeout,
});

/** `type: email`: a mail through an SMTP server (nodemailer). */
export const emailChannelSchema = z
  .strictObject({
    type: z.literal("email").describe("A plain-text mail through an SMTP server."),
    host: z.string().min(1).describe("The SMTP server's host name."),
    port: z.number().int().min(1).max(65_535).default(587).describe("The SMTP server's port: 587 (STARTTLS when offered), 465 with secure, 25."),
    secure: z.boolean().default(false).describe("true: TLS from the first byte (port 465); false: plain, upgraded by STARTTLS when the server offers it."),
    user: secretRef.optional().describe("The SMTP login, when the server asks for one (with password)."),
    password: secretRef.optional().describe("The SMTP password (with user)."),
    from: z.string().min(1).describe("The sender: ferry@example.com, or Ferry <ferry@example.com>."),
    to: z.array(z.email()).min(1).describe("Who receives the mails: a list of addresses."),
    timeout: channelTimeout,
  })
  .superRefine((c, ctx) => {
    if ((c.user === undefined) === (c.password === undefined)) return;
    ctx.addIssue({ code: "custom", message: "give both user and password, or neither", path: [c.user === undefined ? "password" : "user"] });
  });

/** Where an alert's messages can go, by `type`. */
export const channelSchema = z.discriminatedUnion("type", [webhookChannelSchema, slackChannelSchema, emailChannelSchema]);

const ruleName = z
  .string()
  .regex(/^[\w.-]{1,64}$/, "expected 1 to 64 letters, digits and . _ -")
  .optional()
  .describe("The rule's name in messages and in the state store's incidents; default its `when`. Two rules of one kind need names of their own.");
const ruleChannels = z.array(z.string().min(1)).min(1).describe("The channels (names under alerts.channels) its messages go to.");
const onlyJobs = z.array(z.string().min(1)).min(1).optional().describe("Only these jobs (default every job).");
const onlyDestinations = z.array(z.string().min(1)).min(1).optional().describe("Only these destinations (default every destination).");
const threshold = (what: string) => z.number().int().min(0).default(0).describe(`${what} (default 0: any).`);

/** One rule: what to watch (`when`), where to send its messages (`channels`), and its filters. */
export const alertRuleSchema = z.discriminatedUnion("when", [
  z.strictObject({
    when: z.literal("run_failed").describe("A run failed, was refused (mass-delete guard) or abandoned; recovers at the job's next successful run."),
    name: ruleName,
    jobs: onlyJobs,
    channels: ruleChannels,
  }),
  z.strictObject({
    when: z.literal("job_late").describe("A scheduled job has no successful run for its last occurrence once `grace` has passed; recovers when a run succeeds."),
    name: ruleName,
    grace: durationSchema("How long after an occurrence of its schedule a job's successful run may come.", "1h"),
    jobs: onlyJobs,
    channels: ruleChannels,
  }),
  z.strictObject({
    when: z.literal("destination_down").describe("A destination has rows due for longer than `for` still not delivered; recovers when none is overdue."),
    name: ruleName,
    for: durationSchema("How long a row may stay due and not delivered before the destination counts as down.", "15m"),
    destinations: onlyDestinations,
    channels: ruleChannels,
  }),
  z.strictObject({
    when: z.literal("dead_letters_above").describe("A destination's open dead letters are more than `threshold`; recovers when back at or under it."),
    name: ruleName,
    threshold: threshold("Open dead letters a destination may have"),
    destinations: onlyDestinations,
    channels: ruleChannels,
  }),
  z.strictObject({
    when: z.literal("conflicts_opened_above").describe("A run opened more than `threshold` conflicts: one alert per run, no recovery."),
    name: ruleName,
    threshold: threshold("Conflicts one run may open"),
    jobs: onlyJobs,
    channels: ruleChannels,
  }),
  z.strictObject({
    when: z.literal("file_failed").describe("A file of a folder or SFTP job failed (moved to failed/): one alert per file, no recovery."),
    name: ruleName,
    jobs: onlyJobs,
    channels: ruleChannels,
  }),
]);

/** `alerts:` what `ferry serve` watches in the state store, and where it says so. */
export const alertsSchema = z.strictObject({
  check_every: durationSchema("How often `ferry serve` evaluates the rules (also right after each run ends).", "30s").refine(
    between(1_000, 3_600_000),
    "expected 1s to 1h",
  ),
  project: z.string().min(1).optional().describe("How messages name this project; default the name of ferry.yaml's folder."),
  console_url: httpUrlOrReference("https://ferry.example.com")
    .optional()
    .describe("The console's address as people reach it: messages then link to <console_url>/runs/<id>, not only the path /runs/<id>."),
  channels: z.record(z.string().regex(/^[\w.-]{1,64}$/, "expected 1 to 64 letters, digits and . _ -"), channelSchema).default({}).describe(
    "Where messages go, by name: type webhook, slack or email.",
  ),
  rules: z.array(alertRuleSchema).default([]).describe("What to alert on; each incident is sent once, and its recovery once."),
});

export type AlertsConfig = z.output<typeof alertsSchema>;
export type AlertRule = AlertsConfig["rules"][number];
export type AlertKind = AlertRule["when"];
export type ChannelConfig = z.output<typeof channelSchema>;

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
    alerts: alertsSchema.optional().describe("Alerts of `ferry serve`: rules over the state store, messages to webhooks, Slack and email."),
  });
}

export type ProjectConfig = z.output<ReturnType<typeof projectSchemaFor>>;
export type StateConfig = z.output<typeof stateSchema>;
