/**
 * An alert channel: where a message goes (a webhook, Slack, a mail server). `send` makes one attempt,
 * within the signal it is given; trying again, with backoff, is the caller's (send.ts), so that every kind
 * of channel is retried the same way. Its errors name the channel, never a secret (a Slack URL is one).
 */
import type { ChannelConfig } from "../../config/project.schema.ts";
import type { AlertMessage } from "../message.ts";

export interface Channel {
  readonly name: string;
  readonly type: ChannelConfig["type"];
  /** How long one attempt may take (the channel's `timeout`). */
  readonly timeoutMs: number;
  /**
   * Sends the message once. Throws ALERT_CHANNEL_UNAVAILABLE (a TransientError: trying again may help) or
   * ALERT_CHANNEL_REFUSED (a PermanentError: the channel's settings need a person).
   */
  send(message: AlertMessage, signal: AbortSignal): Promise<void>;
}
