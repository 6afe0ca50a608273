/**
 * `type: webhook`: the message as JSON in a POST, signed (signature.ts) so the receiver knows it is Ferry's
 * and fresh. Header `X-Ferry-Alert` carries the message's id, stable across retries: a receiver that got a
 * message twice (an answer lost on the way back) can drop the repeat.
 */
import type { Secret } from "../../config/secrets.ts";
import type { AlertMessage } from "../message.ts";
import type { Channel } from "./channel.ts";
import { postJson } from "./post.ts";
import { SIGNATURE_HEADER, signatureHeader } from "./signature.ts";

export interface WebhookSettings {
  url: string;
  secret: Secret;
  timeoutMs: number;
  /** The clock of the signature's `t`. */
  now?: () => Date;
}

export function webhookChannel(name: string, settings: WebhookSettings): Channel {
  const now = settings.now ?? (() => new Date());
  return {
    name,
    type: "webhook",
    timeoutMs: settings.timeoutMs,
    async send(message: AlertMessage, signal: AbortSignal) {
      const body = JSON.stringify(message);
      const t = Math.floor(now().valueOf() / 1000);
      const headers = { [SIGNATURE_HEADER]: signatureHeader(settings.secret.reveal(), t, body), "X-Ferry-Alert": message.id };
      await postJson({ channel: name, url: settings.url, body, headers, refusedHint: "check the channel's url, and the receiver's check of the signature" }, signal);
    },
  };
}
