/**
 * The state store's schema, as knex migrations listed in code (not discovered from file names), so SQLite
 * and PostgreSQL get exactly the same tables. Values, provenance and payloads are JSON text; times are ISO
 * 8601 UTC text, which sorts correctly on both.
 */
import type { Knex } from "knex";

interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

function createRuns(knex: Knex) {
  return knex.schema.createTable("runs", (t) => {
    t.increments("id").primary();
    t.string("job").notNullable();
    t.string("mode", 16).notNullable();
    t.string("status", 16).notNullable();
    t.string("started_at", 32).notNullable();
    t.string("finished_at", 32);
    for (const c of [
      "read",
      "unchanged",
      "changed",
      "rejected",
      "filtered",
      "deleted",
      "conflicts",
      "outbox",
    ]) {
      t.bigInteger(c).notNullable().defaultTo(0);
    }
    t.text("error");
    t.index(["job", "id"]);
  });
}

function createRunRejects(knex: Knex) {
  return knex.schema.createTable("run_rejects", (t) => {
    t.integer("run_id").notNullable().references("runs.id");
    t.integer("line").notNullable();
    t.string("key");
    t.string("code", 64).notNullable();
    t.text("reason").notNullable();
    t.index(["run_id"]);
  });
}

function createCheckpoints(knex: Knex) {
  return knex.schema.createTable("checkpoints", (t) => {
    t.string("job").primary();
    t.text("position").notNullable();
    t.integer("run_id").notNullable();
    t.string("updated_at", 32).notNullable();
  });
}

function createSnapshots(knex: Knex) {
  return knex.schema.createTable("snapshots", (t) => {
    t.string("entity").notNullable();
    t.string("key").notNullable();
    t.string("source").notNullable();
    t.string("hash", 64).notNullable();
    t.text("vals").notNullable();
    t.string("source_time", 40);
    t.string("observed_at", 32).notNullable();
    t.integer("run_id").notNullable();
    t.primary(["entity", "key", "source"]);
    t.index(["entity", "source"]);
  });
}

function createGolden(knex: Knex) {
  return knex.schema.createTable("golden", (t) => {
    t.string("entity").notNullable();
    t.string("key").notNullable();
    t.integer("version").notNullable();
    t.string("status", 16).notNullable();
    t.text("fields").notNullable();
    t.integer("run_id");
    t.string("updated_at", 32).notNullable();
    t.primary(["entity", "key"]);
  });
}

function createConflicts(knex: Knex) {
  return knex.schema.createTable("conflicts", (t) => {
    t.increments("id").primary();
    t.string("entity").notNullable();
    t.string("key").notNullable();
    t.string("field").notNullable();
    t.string("status", 16).notNullable();
    t.text("current").notNullable();
    t.text("candidates").notNullable();
    t.integer("opened_run");
    t.string("opened_at", 32).notNullable();
    t.string("updated_at", 32).notNullable();
    t.string("closed_at", 32);
    t.text("resolution");
    t.index(["entity", "key", "status"]);
    t.index(["status", "id"]);
  });
}

function createOutbox(knex: Knex) {
  return knex.schema.createTable("outbox", (t) => {
    t.increments("id").primary();
    t.string("destination").notNullable();
    t.string("entity").notNullable();
    t.string("key").notNullable();
    t.integer("version").notNullable();
    t.string("op", 16).notNullable();
    t.text("properties").notNullable();
    t.text("changed").notNullable();
    t.string("idempotency_key", 64).notNullable();
    t.string("status", 16).notNullable();
    t.integer("attempts").notNullable().defaultTo(0);
    t.string("next_attempt_at", 32).notNullable();
    t.text("last_error");
    t.integer("run_id");
    t.integer("superseded_by");
    t.string("created_at", 32).notNullable();
    t.string("updated_at", 32).notNullable();
    t.index(["destination", "status", "id"]);
    t.index(["destination", "entity", "key", "status"]);
  });
}

function createDestinationRecords(knex: Knex) {
  return knex.schema.createTable("destination_records", (t) => {
    t.string("destination").notNullable();
    t.string("entity").notNullable();
    t.string("key").notNullable();
    t.string("remote_id");
    t.text("pushed").notNullable();
    t.integer("version").notNullable();
    t.integer("outbox_id").notNullable();
    t.string("pushed_at", 32).notNullable();
    t.primary(["destination", "entity", "key"]);
  });
}

function createAuditLog(knex: Knex) {
  return knex.schema.createTable("audit_log", (t) => {
    t.increments("id").primary();
    t.string("at", 32).notNullable();
    t.string("actor").notNullable();
    t.string("action", 64).notNullable();
    t.string("entity");
    t.string("key");
    t.string("field");
    t.text("before");
    t.text("after");
    t.text("details");
  });
}

const initial: Migration = {
  name: "0001_initial",
  async up(knex) {
    await createRuns(knex);
    await createRunRejects(knex);
    await createCheckpoints(knex);
    await createSnapshots(knex);
    await createGolden(knex);
    await createConflicts(knex);
    await createOutbox(knex);
    await createDestinationRecords(knex);
    await createAuditLog(knex);
  },
  async down(knex) {
    for (const table of [
      "audit_log",
      "destination_records",
      "outbox",
      "conflicts",
      "golden",
      "snapshots",
      "checkpoints",
      "run_rejects",
      "runs",
    ]) {
      await knex.schema.dropTableIfExists(table);
    }
  },
};

/** The ledger of files taken by folder and SFTP jobs: what was applied, so nothing is applied twice. */
const files: Migration = {
  name: "0002_files",
  async up(knex) {
    await knex.schema.createTable("files", (t) => {
      t.increments("id").primary();
      t.string("job").notNullable();
      t.string("name").notNullable();
      t.string("hash", 64).notNullable();
      t.bigInteger("size").notNullable();
      t.string("mtime", 32);
      t.integer("run_id");
      t.string("outcome", 16).notNullable();
      t.text("reason");
      t.string("processed_at", 32).notNullable();
      t.index(["job", "hash"]);
      t.index(["job", "name"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTableIfExists("files");
  },
};

/**
 * The dead-letter queue: one entry each time an outbox row dies, with what was sent, what came back and
 * why; resolved by an operator's replay or discard, never deleted.
 */
const deadLetters: Migration = {
  name: "0003_dead_letters",
  async up(knex) {
    await knex.schema.createTable("dead_letters", (t) => {
      t.increments("id").primary();
      t.integer("outbox_id").notNullable();
      t.string("destination").notNullable();
      t.string("entity").notNullable();
      t.string("key").notNullable();
      t.integer("version").notNullable();
      t.string("code", 64).notNullable();
      t.text("reason").notNullable();
      t.text("request");
      t.text("response");
      t.integer("attempts").notNullable();
      t.string("dead_at", 32).notNullable();
      t.string("resolution", 16);
      t.string("resolved_at", 32);
      t.string("resolved_by");
      t.index(["destination", "resolution"]);
      t.index(["outbox_id"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTableIfExists("dead_letters");
  },
};

/**
 * When an SFTP file's post-action moved or deleted it on the server: a file with the same name, size and
 * time listed afterwards is a new upload, not the one taken.
 */
const filesRemoved: Migration = {
  name: "0004_files_removed",
  async up(knex) {
    await knex.schema.alterTable("files", (t) => {
      t.string("removed_at", 32);
    });
  },
  async down(knex) {
    await knex.schema.alterTable("files", (t) => {
      t.dropColumn("removed_at");
    });
  },
};

/**
 * Run leases: which process runs each job now, so that a job never runs twice at once, whichever process
 * or host starts it (src/state/leases.repo.ts). A lease whose heartbeat stopped expires and is taken over.
 */
const runLeases: Migration = {
  name: "0005_run_leases",
  async up(knex) {
    await knex.schema.createTable("run_leases", (t) => {
      t.string("job").primary();
      t.string("holder", 64).notNullable();
      t.integer("pid").notNullable();
      t.string("host").notNullable();
      t.string("acquired_at", 32).notNullable();
      t.string("heartbeat_at", 32).notNullable();
      t.string("expires_at", 32).notNullable();
    });
  },
  async down(knex) {
    await knex.schema.dropTableIfExists("run_leases");
  },
};

/**
 * Leases for more than runs: a job's run (`run:<job>`) and delivery to a destination (`deliver:<name>`), each
 * naming the worker that holds it (`ferry workers`). The run leases held now carry over.
 */
const leases: Migration = {
  name: "0006_leases",
  async up(knex) {
    await knex.schema.createTable("leases", (t) => {
      t.string("name").primary();
      t.string("holder", 64).notNullable();
      t.string("worker").notNullable();
      t.integer("pid").notNullable();
      t.string("host").notNullable();
      t.string("acquired_at", 32).notNullable();
      t.string("heartbeat_at", 32).notNullable();
      t.string("expires_at", 32).notNullable();
    });
    await knex.raw(
      `INSERT INTO leases (name, holder, worker, pid, host, acquired_at, heartbeat_at, expires_at)
       SELECT 'run:' || job, holder, host || ':' || CAST(pid AS TEXT), pid, host, acquired_at, heartbeat_at, expires_at
       FROM run_leases`,
    );
    await knex.schema.dropTable("run_leases");
  },
  async down(knex) {
    await runLeases.up(knex);
    await knex.raw(
      `INSERT INTO run_leases (job, holder, pid, host, acquired_at, heartbeat_at, expires_at)
       SELECT SUBSTR(name, 5), holder, pid, host, acquired_at, heartbeat_at, expires_at FROM leases WHERE name LIKE 'run:%'`,
    );
    await knex.schema.dropTable("leases");
  },
};

/**
 * The console's identity layer (src/console/auth/): users with a role and an argon2id password hash; browser
 * sessions and API tokens, each stored as the SHA-256 of the secret its holder presents, so that reading the
 * state store gives no way in; and the login attempts that throttling counts.
 */
const consoleIdentity: Migration = {
  name: "0007_console",
  async up(knex) {
    await knex.schema.createTable("users", (t) => {
      t.increments("id").primary();
      t.string("name", 64).notNullable().unique();
      t.string("role", 16).notNullable();
      t.string("password_hash").notNullable();
      t.string("disabled_at", 32);
      t.string("created_at", 32).notNullable();
      t.string("updated_at", 32).notNullable();
    });
    await knex.schema.createTable("sessions", (t) => {
      t.string("id", 64).primary();
      t.integer("user_id").notNullable().references("users.id");
      t.string("csrf_token", 64).notNullable();
      t.string("created_at", 32).notNullable();
      t.string("last_seen_at", 32).notNullable();
      t.string("expires_at", 32).notNullable();
      t.index(["user_id"]);
      t.index(["expires_at"]);
    });
    await knex.schema.createTable("api_tokens", (t) => {
      t.increments("id").primary();
      t.string("name", 100).notNullable();
      t.integer("user_id").notNullable().references("users.id");
      t.string("hash", 64).notNullable().unique();
      t.string("prefix", 16).notNullable();
      t.string("created_by").notNullable();
      t.string("created_at", 32).notNullable();
      t.string("last_used_at", 32);
      t.string("revoked_at", 32);
      t.string("expires_at", 32);
      t.index(["user_id"]);
    });
    await knex.schema.createTable("login_attempts", (t) => {
      t.increments("id").primary();
      t.string("name", 64).notNullable();
      t.string("at", 32).notNullable();
      t.string("outcome", 16).notNullable();
      t.index(["name", "at"]);
      t.index(["at"]);
    });
  },
  async down(knex) {
    for (const table of ["login_attempts", "api_tokens", "sessions", "users"]) await knex.schema.dropTableIfExists(table);
  },
};

/** Jobs whose schedule an operator paused: who, when (src/state/schedule-pauses.repo.ts). */
const schedulePauses: Migration = {
  name: "0008_schedule_pauses",
  async up(knex) {
    await knex.schema.createTable("schedule_pauses", (t) => {
      t.string("job").primary();
      t.string("paused_by").notNullable();
      t.string("paused_at", 32).notNullable();
    });
  },
  async down(knex) {
    await knex.schema.dropTableIfExists("schedule_pauses");
  },
};

/** The log lines of each run (info and above), for the console's run page (src/state/run-logs.repo.ts). */
const runLogs: Migration = {
  name: "0009_run_logs",
  async up(knex) {
    await knex.schema.createTable("run_logs", (t) => {
      t.increments("id").primary();
      t.integer("run_id").notNullable();
      t.string("at", 32).notNullable();
      t.integer("level").notNullable();
      t.text("msg").notNullable();
      t.text("fields");
      t.index(["run_id"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTableIfExists("run_logs");
  },
};

/**
 * Alerts (src/alerts/): one incident per rule and subject while its condition holds, or per event (a run, a
 * file) for one-shot rules, so each is sent once and its recovery once, across restarts and workers.
 * `open_key` is unique: `["<rule>","<subject>"]` while a stateful incident is open (null once resolved, so
 * the next one may open), `["<rule>","<subject>","<event>"]` for an event, kept. `sent` says what was
 * sent: null nothing yet; `alert` (its recovery is due once it is resolved); `recovery`; `event` (a
 * one-shot event's alert: nothing follows); `closed` (closed without a message: its rule or subject left
 * the configuration). A one-shot rule's cursor is the last run or file id it has looked at.
 */
const alerts: Migration = {
  name: "0010_alerts",
  async up(knex) {
    await knex.schema.createTable("alert_incidents", (t) => {
      t.increments("id").primary();
      t.string("rule", 64).notNullable();
      t.string("kind", 32).notNullable();
      t.string("subject").notNullable();
      t.string("event", 64);
      t.string("open_key", 400).unique();
      t.string("opened_at", 32).notNullable();
      t.string("last_sent_at", 32);
      t.string("resolved_at", 32);
      t.string("sent", 16);
      t.text("details").notNullable();
      t.index(["sent", "resolved_at"]);
      t.index(["rule", "subject"]);
    });
    await knex.schema.createTable("alert_cursors", (t) => {
      t.string("rule", 64).primary();
      t.bigInteger("position").notNullable();
      t.string("updated_at", 32).notNullable();
    });
  },
  async down(knex) {
    await knex.schema.dropTableIfExists("alert_cursors");
    await knex.schema.dropTableIfExists("alert_incidents");
  },
};

export const migrations: readonly Migration[] = [
  initial,
  files,
  deadLetters,
  filesRemoved,
  runLeases,
  leases,
  consoleIdentity,
  schedulePauses,
  runLogs,
  alerts,
];

export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => [...migrations],
  getMigrationName: (m) => m.name,
  getMigration: async (m) => m,
};
