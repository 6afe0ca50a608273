/**
 * Receivers of alerts for tests, each on 127.0.0.1 port 0 and stopped by `close`: an HTTP endpoint that
 * records every request (a webhook or a Slack incoming webhook) and answers as told, and an SMTP server
 * (the smtp-server package) that records every mail it is given.
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The body as received (the bytes a signature covers). */
  body: string;
  /** The body parsed as JSON. */
  json: unknown;
}

/** How the receiver answers its n-th request (1-based): a status, or "hang" (never answers). */
export type Answer = (n: number) => number | "hang";

export interface HttpReceiver {
  url: string;
  /** Every request, in arrival order (answered or not). */
  readonly requests: ReceivedRequest[];
  /** Resolves once `count` requests have arrived; fails past the deadline. */
  waitFor(count: number, deadlineMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export async function startHttpReceiver(answer: Answer = () => 200, body = "ok"): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  const waiters: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: text, json });
      for (const w of waiters.splice(0)) w();
      const status = answer(requests.length);
      if (status === "hang") return;
      res.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? body : "error");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async waitFor(count, deadlineMs = 15_000) {
      const end = Date.now() + deadlineMs;
      while (requests.length < count) {
        if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${count} request(s); got ${requests.length}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 50);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return requests;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ReceivedMail {
  from: string;
  to: string[];
  /** The message as received: headers and body, in SMTP's own form. */
  raw: string;
  /** The login given, if any. */
  user?: string;
}

export interface SmtpReceiver {
  port: number;
  readonly mails: ReceivedMail[];
  waitFor(count: number, deadlineMs?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

/** An SMTP server without TLS, taking any mail; with `login`, it asks for that user and password. */
export async function startSmtpReceiver(login?: { user: string; password: string }): Promise<SmtpReceiver> {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    disabledCommands: login ? ["STARTTLS"] : ["STARTTLS", "AUTH"],
    authOptional: !login,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (login && auth.username === login.user && auth.password === login.password) callback(null, { user: auth.username });
      else callback(new Error("invalid login"));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const envelope = session.envelope;
        mails.push({
          from: envelope.mailFrom ? envelope.mailFrom.address : "",
          to: envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString("utf8"),
          ...(typeof session.user === "string" ? { user: session.user } : {}),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    port,
    mails,
    async waitFor(count, deadlineMs = 15_000) {
      const end = Date.now() + deadlineMs;
      while (mails.length < count) {
        if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${count} mail(s); got ${mails.length}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      return mails;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
