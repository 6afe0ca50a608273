/**
 * One JSON POST of an HTTP channel (webhook, Slack), over a connection of its own that is closed after the
 * answer (nothing lingers once a message is sent), through src/http's `exchange`. Errors say the channel and
 * where it posts as `redact` shows it (scheme and host), the status and a trimmed body, never the URL's
 * path or query, which may hold a secret (a Slack incoming webhook's does).
 */
import http from "node:http";
import https from "node:https";
import { redact, scrubSecrets } from "../../config/secrets.ts";
import { PermanentError, TransientError } from "../../errors.ts";
import { exchange, retryAfterMs, trimBody } from "../../http/exchange.ts";

export interface Post {
  /** The channel's name, for messages. */
  channel: string;
  url: string;
  body: string;
  headers?: Record<string, string>;
  /** What a refusal (a 4xx) most likely means, added to its message. */
  refusedHint?: string;
}

const agents = { http: new http.Agent({ keepAlive: false }), https: new https.Agent({ keepAlive: false }) };

export async function postJson(post: Post, signal: AbortSignal): Promise<void> {
  const url = new URL(post.url);
  const shown = `POST ${redact(post.url)}`;
  const headers = {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(post.body)),
    "user-agent": "ferry-alerts",
    ...post.headers,
  };
  let answer;
  try {
    answer = await exchange(url, url.protocol === "https:" ? agents.https : agents.http, "POST", headers, post.body, signal);
  } catch (e) {
    const timedOut = signal.aborted && (signal.reason as Error | undefined)?.name === "TimeoutError";
    const why = timedOut ? "no answer in time" : scrubSecrets(((e as NodeJS.ErrnoException).code ?? (e as Error).message) || "network error");
    throw new TransientError("ALERT_CHANNEL_UNAVAILABLE", `alert channel ${post.channel}: ${shown} failed: ${why}`, {
      details: { channel: post.channel, network: (e as NodeJS.ErrnoException).code ?? (timedOut ? "timeout" : undefined) },
    });
  }
  const { status } = answer;
  if (status >= 200 && status < 300) return;
  const said = answer.text.trim() ? `: ${trimBody(answer.text, 200)}` : "";
  const details = { channel: post.channel, status };
  if (status >= 500 || status === 408 || status === 429) {
    const retryAfter = retryAfterMs(answer.headers["retry-after"]);
    throw new TransientError("ALERT_CHANNEL_UNAVAILABLE", `alert channel ${post.channel}: ${shown} answered ${status}${said}`, {
      details,
      ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
    });
  }
  const hint = post.refusedHint ? `; ${post.refusedHint}` : "";
  throw new PermanentError("ALERT_CHANNEL_REFUSED", `alert channel ${post.channel}: ${shown} answered ${status}${said}${hint}`, { details });
}
