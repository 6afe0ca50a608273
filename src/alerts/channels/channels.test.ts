/**
 * The alert channels against receivers on 127.0.0.1: a webhook's signed JSON, Slack's payload, a mail
 * through a real SMTP server (smtp-server), and the retries every channel gets: a 500 is tried again and
 * the message delivered once, a refusal is not tried again, a receiver that never answers costs a bounded
 * wait. Failures are logged naming the channel, never its secret.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { type HttpReceiver, type SmtpReceiver, startHttpReceiver, startSmtpReceiver } from "../../../test/support/alert-receivers.ts";
import { Secret } from "../../config/secrets.ts";
import { createLogger } from "../../log.ts";
import type { Incident } from "../../state/alert-incidents.repo.ts";
import { alertMessage, type AlertMessage } from "../message.ts";
import { emailChannel } from "./email.channel.ts";
import { sendToChannel } from "./send.ts";
import { verifySignature } from "./signature.ts";
import { slackChannel } from "./slack.channel.ts";
import { webhookChannel } from "./webhook.channel.ts";

const SECRET = "webhook-signing-secret-0123";
const FAST = { attempts: 3, initialDelayMs: 10, maxDelayMs: 50 };

const incident: Incident = {
  id: 7,
  rule: "run_failed",
  kind: "run_failed",
  subject: "legacy",
  event: null,
  opened_at: "2026-01-05T02:00:03.000Z",
  last_sent_at: null,
  resolved_at: null,
  sent: null,
  details: {
    alert: {
      summary: "job legacy: run 12 failed at 2026-01-05T02:00:03.000Z: SOURCE_SQL_QUERY_FAILED: no such table: CUSTOMERS <x>",
      at: "2026-01-05T02:00:03.000Z",
      job: "legacy",
      run_id: 12,
      error_code: "SOURCE_SQL_QUERY_FAILED",
      console_path: "/runs/12",
    },
  },
};

const message: AlertMessage = alertMessage({ project: "acme", consoleUrl: "https://ferry.example.com/" }, incident, "alert");

/** A logger whose lines are kept, parsed. */
function recordingLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger({ level: "info", destination }), lines };
}

describe("the message", () => {
  test("says the project, the job, what happened, when, the run, the error code and the console page", () => {
    assert.equal(message.id, "7-alert");
    assert.equal(message.project, "acme");
    assert.equal(message.job, "legacy");
    assert.equal(message.run_id, 12);
    assert.equal(message.error_code, "SOURCE_SQL_QUERY_FAILED");
    assert.equal(message.console_path, "/runs/12");
    assert.equal(message.console_url, "https://ferry.example.com/runs/12");
    assert.equal(message.at, "2026-01-05T02:00:03.000Z");
    assert.equal(message.one_shot, false);
  });
});

describe("webhook", () => {
  let receiver: HttpReceiver;
  before(async () => {
    receiver = await startHttpReceiver();
  });
  after(() => receiver.close());

  test("POSTs the message as JSON, signed with HMAC-SHA256 over t.body", async () => {
    const now = () => new Date("2026-01-05T02:00:04.000Z");
    const channel = webhookChannel("ops", { url: `${receiver.url}/hooks/ferry?k=1`, secret: new Secret(SECRET), timeoutMs: 5_000, now });
    await channel.send(message, AbortSignal.timeout(5_000));
    const [request] = await receiver.waitFor(1);
    assert.equal(request!.method, "POST");
    assert.equal(request!.path, "/hooks/ferry?k=1");
    assert.equal(request!.headers["content-type"], "application/json");
    assert.equal(request!.headers["x-ferry-alert"], "7-alert");
    const signature = String(request!.headers["x-ferry-signature"]);
    assert.match(signature, /^t=1767578404,v1=[0-9a-f]{64}$/);
    assert.ok(verifySignature(signature, request!.body, SECRET, 1767578404), "the signature checks with the secret");
    assert.ok(!verifySignature(signature, request!.body, "another-secret", 1767578404), "and not with another");
    assert.ok(!verifySignature(signature, `${request!.body} `, SECRET, 1767578404), "nor over another body");
    assert.ok(!verifySignature(signature, request!.body, SECRET, 1767578404 + 3600), "nor an hour later");
    assert.deepEqual(request!.json, message);
  });
});

describe("slack", () => {
  let receiver: HttpReceiver;
  before(async () => {
    receiver = await startHttpReceiver();
  });
  after(() => receiver.close());

  test("POSTs Slack's incoming-webhook payload: text, and blocks with the facts, escaped", async () => {
    const channel = slackChannel("team", { url: new Secret(`${receiver.url}/services/T000/B000/XXXXSECRET`), timeoutMs: 5_000 });
    await channel.send(message, AbortSignal.timeout(5_000));
    const [request] = await receiver.waitFor(1);
    assert.equal(request!.path, "/services/T000/B000/XXXXSECRET");
    const payload = request!.json as { text: string; blocks: { type: string; text: { type: string; text: string } }[] };
    assert.deepEqual(Object.keys(payload).sort(), ["blocks", "text"]);
    assert.equal(
      payload.text,
      ":rotating_light: [acme] ALERT run_failed: job legacy: job legacy: run 12 failed at 2026-01-05T02:00:03.000Z: SOURCE_SQL_QUERY_FAILED: no such table: CUSTOMERS &lt;x&gt;",
    );
    assert.deepEqual(payload.blocks.map((b) => `${b.type}/${b.text.type}`), ["header/plain_text", "section/mrkdwn", "section/mrkdwn"]);
    assert.equal(payload.blocks[0]!.text.text, "🚨 ALERT run_failed: job legacy");
    const facts = payload.blocks[2]!.text.text;
    for (const line of ["*Project:* acme", "*Job:* legacy", "*Run:* 12", "*Error code:* SOURCE_SQL_QUERY_FAILED", "*Console:* https://ferry.example.com/runs/12"]) {
      assert.ok(facts.includes(line), `${line} in\n${facts}`);
    }
  });
});

describe("email", () => {
  let smtp: SmtpReceiver;
  before(async () => {
    smtp = await startSmtpReceiver({ user: "ferry", password: "smtp-password-0123" });
  });
  after(() => smtp.close());

  test("sends a plain-text mail through the SMTP server, with its login", async () => {
    const channel = emailChannel("oncall", {
      host: "127.0.0.1",
      port: smtp.port,
      secure: false,
      login: { user: new Secret("ferry"), password: new Secret("smtp-password-0123") },
      from: "Ferry <ferry@example.com>",
      to: ["oncall@example.com", "data@example.com"],
      timeoutMs: 5_000,
    });
    await channel.send(message, AbortSignal.timeout(10_000));
    const [mail] = await smtp.waitFor(1);
    assert.equal(mail!.from, "ferry@example.com");
    assert.deepEqual(mail!.to, ["oncall@example.com", "data@example.com"]);
    assert.equal(mail!.user, "ferry");
    const raw = mail!.raw.replace(/\r\n/g, "\n");
    assert.match(raw, /^Subject: \[Ferry acme\] ALERT run_failed: job legacy$/m);
    assert.match(raw, /^X-Ferry-Alert: 7-alert$/m);
    const body = raw.slice(raw.indexOf("\n\n") + 2).replace(/=\n/g, "").replace(/=3D/g, "=");
    assert.ok(body.includes("job legacy: run 12 failed at 2026-01-05T02:00:03.000Z"), body);
    assert.match(body, /^Run: +12$/m);
    assert.match(body, /^Error code: +SOURCE_SQL_QUERY_FAILED$/m);
    assert.match(body, /^Console: +https:\/\/ferry\.example\.com\/runs\/12$/m);
  });

  test("a refused login is given up at once, and logged naming the channel", async () => {
    const channel = emailChannel("oncall", {
      host: "127.0.0.1",
      port: smtp.port,
      secure: false,
      login: { user: new Secret("ferry"), password: new Secret("wrong-password-0123") },
      from: "ferry@example.com",
      to: ["oncall@example.com"],
      timeoutMs: 5_000,
    });
    const { log, lines } = recordingLogger();
    const sent = await sendToChannel(channel, message, { log, signal: new AbortController().signal, retry: FAST });
    assert.equal(sent, false);
    const attempts = lines.filter((l) => String(l.msg).startsWith("alert channel oncall: attempt"));
    assert.equal(attempts.length, 1, "not tried again");
    assert.match(String(attempts[0]!.err), /^ALERT_CHANNEL_REFUSED: alert channel oncall: SMTP 127\.0\.0\.1:\d+ refused the mail/);
    assert.ok(!JSON.stringify(lines).includes("wrong-password-0123"), "the password is never logged");
  });
});

describe("retries", () => {
  test("a channel that answers 500 twice then 200 is tried three times and delivers once", async () => {
    const receiver = await startHttpReceiver((n) => (n <= 2 ? 500 : 200));
    try {
      const channel = webhookChannel("ops", { url: receiver.url, secret: new Secret(SECRET), timeoutMs: 5_000 });
      const { log, lines } = recordingLogger();
      assert.equal(await sendToChannel(channel, message, { log, signal: new AbortController().signal, retry: FAST }), true);
      assert.equal(receiver.requests.length, 3);
      assert.deepEqual(new Set(receiver.requests.map((r) => r.headers["x-ferry-alert"])), new Set(["7-alert"]), "the same message each time");
      const warnings = lines.filter((l) => l.level === 40);
      assert.deepEqual(warnings.map((l) => [l.channel, l.attempt]), [["ops", 1], ["ops", 2]]);
      const unavailable = /^ALERT_CHANNEL_UNAVAILABLE: alert channel ops: POST http:\/\/127\.0\.0\.1:\d+\/\*\*\* answered 500/;
      assert.match(String(warnings[0]!.err), unavailable);
      assert.equal(lines.filter((l) => l.msg === "alert sent to ops").length, 1);
      assert.ok(!JSON.stringify(lines).includes(SECRET), "the secret is never logged");
    } finally {
      await receiver.close();
    }
  });

  test("a refusal (404) is not tried again", async () => {
    const receiver = await startHttpReceiver(() => 404);
    try {
      const channel = slackChannel("team", { url: new Secret(`${receiver.url}/services/T/B/REVOKEDTOKEN`), timeoutMs: 5_000 });
      const { log, lines } = recordingLogger();
      assert.equal(await sendToChannel(channel, message, { log, signal: new AbortController().signal, retry: FAST }), false);
      assert.equal(receiver.requests.length, 1);
      const gaveUp = lines.find((l) => l.level === 50)!;
      assert.match(String(gaveUp.err), /^ALERT_CHANNEL_REFUSED: alert channel team: POST http:\/\/127\.0\.0\.1:\d+\/\*\*\* answered 404/);
      assert.ok(!JSON.stringify(lines).includes("REVOKEDTOKEN"), "the Slack URL, a credential, is never logged");
    } finally {
      await receiver.close();
    }
  });

  test("a channel that never answers costs at most its attempts' timeouts", async () => {
    const receiver = await startHttpReceiver(() => "hang");
    try {
      const channel = webhookChannel("ops", { url: receiver.url, secret: new Secret(SECRET), timeoutMs: 200 });
      const { log, lines } = recordingLogger();
      const started = Date.now();
      assert.equal(await sendToChannel(channel, message, { log, signal: new AbortController().signal, retry: FAST }), false);
      const took = Date.now() - started;
      assert.ok(took >= 600 && took < 3_000, `took ${took} ms for 3 attempts of 200 ms`);
      assert.equal(receiver.requests.length, 3);
      assert.match(String(lines.find((l) => l.level === 50)!.err), /no answer in time/);
    } finally {
      await receiver.close();
    }
  });

  test("a stop makes the first attempt, and no other", async () => {
    const receiver = await startHttpReceiver(() => 503);
    try {
      const channel = webhookChannel("ops", { url: receiver.url, secret: new Secret(SECRET), timeoutMs: 1_000 });
      const stop = new AbortController();
      stop.abort(new Error("ferry is stopping"));
      const { log } = recordingLogger();
      assert.equal(await sendToChannel(channel, message, { log, signal: stop.signal, retry: FAST }), false);
      assert.equal(receiver.requests.length, 1);
    } finally {
      await receiver.close();
    }
  });
});
