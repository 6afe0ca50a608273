/**
 * `type: slack`: a message through a Slack incoming webhook, in the payload Slack documents: `text` (what
 * notifications and clients without blocks show) and `blocks` (a header, the summary, the facts). Slack's
 * mrkdwn needs `&`, `<` and `>` escaped; a header block takes at most 150 characters, a section 3000.
 * https://api.slack.com/messaging/webhooks, https://api.slack.com/reference/surfaces/formatting
 */
import type { Secret } from "../../config/secrets.ts";
import { type AlertMessage, factLines, titleOf } from "../message.ts";
import type { Channel } from "./channel.ts";
import { postJson } from "./post.ts";

export interface SlackSettings {
  url: Secret;
  timeoutMs: number;
}

const escape = (text: string) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** The payload Slack's incoming webhooks take. */
export function slackPayload(m: AlertMessage): { text: string; blocks: unknown[] } {
  const mark = m.type === "alert" ? ":rotating_light:" : ":white_check_mark:";
  const facts = factLines(m).map(([k, v]) => `*${k}:* ${escape(v)}`);
  return {
    text: `${mark} ${escape(`[${m.project}] ${titleOf(m)}: ${m.summary}`)}`,
    blocks: [
      { type: "header", text: { type: "plain_text", text: cut(`${m.type === "alert" ? "🚨" : "✅"} ${titleOf(m)}`, 150), emoji: true } },
      { type: "section", text: { type: "mrkdwn", text: cut(escape(m.summary), 3000) } },
      { type: "section", text: { type: "mrkdwn", text: cut(facts.join("\n"), 3000) } },
    ],
  };
}

export function slackChannel(name: string, settings: SlackSettings): Channel {
  return {
    name,
    type: "slack",
    timeoutMs: settings.timeoutMs,
    async send(message: AlertMessage, signal: AbortSignal) {
      const body = JSON.stringify(slackPayload(message));
      const hint = "check the incoming webhook's URL (Slack answers 403 or 404 to a revoked one, 410 to an archived channel)";
      await postJson({ channel: name, url: settings.url.reveal(), body, refusedHint: hint }, signal);
    },
  };
}
