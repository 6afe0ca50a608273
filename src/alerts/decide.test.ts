import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Incident } from "../state/alert-incidents.repo.ts";
import { clip, errorCodeOf, type Observation, planStateful } from "./decide.ts";
import { alertMessage, mailSubjectOf, plainText } from "./message.ts";

const facts = (summary: string) => ({ summary, at: "2026-01-05T02:00:00.000Z" });

function incident(id: number, subject: string, extra: Partial<Incident> = {}): Incident {
  return {
    id,
    rule: "run_failed",
    kind: "run_failed",
    subject,
    event: null,
    opened_at: "2026-01-05T01:00:00.000Z",
    last_sent_at: null,
    resolved_at: null,
    sent: null,
    details: { alert: facts(`${subject} failed`) },
    ...extra,
  };
}

describe("planStateful", () => {
  test("opens for a bad subject without an incident, resolves a good one, closes one no longer watched", () => {
    const observations: Observation[] = [
      { subject: "a", state: "bad", facts: facts("a failed") },
      { subject: "b", state: "bad", facts: facts("b failed again") },
      { subject: "c", state: "good", facts: facts("c succeeded") },
      { subject: "d", state: "unknown" },
      { subject: "e", state: "good", facts: facts("e succeeded") },
    ];
    const open = [incident(1, "b"), incident(2, "c"), incident(3, "d"), incident(4, "gone")];
    const plan = planStateful(observations, open);
    assert.deepEqual(plan.open, [{ subject: "a", facts: facts("a failed") }]);
    assert.deepEqual(plan.resolve.map((r) => [r.incident.id, r.facts.summary]), [[2, "c succeeded"]]);
    assert.deepEqual(plan.close.map((i) => i.id), [4]);
  });

  test("nothing to do when every subject is as its incidents say", () => {
    const plan = planStateful([{ subject: "a", state: "bad", facts: facts("x") }, { subject: "b", state: "good", facts: facts("y") }], [incident(1, "a")]);
    assert.deepEqual(plan, { open: [], resolve: [], close: [] });
  });
});

test("errorCodeOf reads the code at the head of a stored error", () => {
  assert.equal(errorCodeOf("SOURCE_SQL_QUERY_FAILED: the query failed"), "SOURCE_SQL_QUERY_FAILED");
  assert.equal(errorCodeOf("worker w (process 1 on host h) stopped without finishing this run"), null);
  assert.equal(errorCodeOf("HTTP: 500"), null);
  assert.equal(errorCodeOf(null), null);
  assert.equal(clip("x".repeat(10), 4), "xxxx…");
});

test("a recovery's message and its plain text", () => {
  const resolved = incident(9, "legacy", {
    resolved_at: "2026-01-05T03:00:00.000Z",
    sent: "alert",
    details: {
      alert: { ...facts("job legacy: run 3 failed"), job: "legacy", run_id: 3, error_code: "SOURCE_UNAVAILABLE", console_path: "/runs/3" },
      recovery: { ...facts("job legacy: run 4 succeeded"), job: "legacy", run_id: 4, console_path: "/runs/4" },
    },
  });
  const m = alertMessage({ project: "acme" }, resolved, "recovery");
  assert.deepEqual([m.id, m.type, m.run_id, m.error_code, m.console_path, m.console_url], ["9-recovery", "recovery", 4, null, "/runs/4", null]);
  assert.equal(mailSubjectOf(m), "[Ferry acme] RECOVERED run_failed: job legacy");
  assert.equal(
    plainText(m),
    [
      "RECOVERED run_failed: job legacy",
      "",
      "job legacy: run 4 succeeded",
      "",
      "Project:    acme",
      "Rule:       run_failed",
      "Job:        legacy",
      "Cleared at: 2026-01-05T02:00:00.000Z",
      "Run:        4",
      "Console:    /runs/4",
      "Open since: 2026-01-05T01:00:00.000Z",
      "",
    ].join("\n"),
  );
});
