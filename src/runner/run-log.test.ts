/** A run's log lines kept in the state store: info and up of lines bound to a run, whatever stderr shows. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createLogger } from "../log.ts";
import { listRunLogs } from "../state/run-logs.repo.ts";
import { openStateStore } from "../state/store.ts";
import { RunLogSink } from "./run-log.ts";

test("keeps a run's info, warn and error lines, not its debug lines nor lines of no run; stderr keeps its own level", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "ferry-run-log-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = await openStateStore({ path: "state.db" }, dir);
  const sink = new RunLogSink(store);
  const shown: string[] = [];
  const stderr = new Writable({
    write(chunk, _e, done) {
      shown.push(String(chunk));
      done();
    },
  });
  const log = createLogger({ level: "warn", destination: stderr, also: { level: "info", stream: sink } });
  const run = log.child({ job: "erp", run: 7 });
  run.debug("a batch read");
  run.info({ read: 10 }, "run started");
  run.warn("a slow page");
  run.error({ code: "X" }, "run failed");
  log.info("not a run's line");
  await sink.close();
  const lines = await listRunLogs(store.knex, 7);
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [[30, "run started"], [40, "a slow page"], [50, "run failed"]]);
  assert.deepEqual(JSON.parse(lines[0]!.fields!), { job: "erp", read: 10 });
  assert.equal(shown.length, 2, "stderr shows warn and up only");
  await store.close();
});
