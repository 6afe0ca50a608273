/**
 * `type: email`: a plain-text mail through an SMTP server (nodemailer), one connection per message, closed
 * after it. The attempt's signal bounds the whole exchange: on abort the connection is closed, whatever
 * the server is doing. SMTP's own answer classes decide what is tried again: a 4xx reply or a dropped
 * connection may pass next time; a 5xx (a refused sender, recipient or login) will not.
 */
import nodemailer from "nodemailer";
import { scrubSecrets, type Secret } from "../../config/secrets.ts";
import { PermanentError, TransientError } from "../../errors.ts";
import { type AlertMessage, mailSubjectOf, plainText } from "../message.ts";
import type { Channel } from "./channel.ts";

export interface EmailSettings {
  host: string;
  port: number;
  secure: boolean;
  login?: { user: Secret; password: Secret };
  from: string;
  to: readonly string[];
  timeoutMs: number;
}

type SmtpError = Error & { code?: string; responseCode?: number };

/** Settles when the signal aborts, with its reason. */
function aborted(signal: AbortSignal): { promise: Promise<never>; dispose(): void } {
  let listener = () => {};
  const promise = new Promise<never>((_, reject) => {
    listener = () => reject(signal.reason as Error);
    if (signal.aborted) listener();
    else signal.addEventListener("abort", listener, { once: true });
  });
  promise.catch(() => {});
  return { promise, dispose: () => signal.removeEventListener("abort", listener) };
}

function failure(name: string, settings: EmailSettings, e: unknown, signal: AbortSignal): Error {
  const where = `SMTP ${settings.host}:${settings.port}`;
  if (signal.aborted) {
    return new TransientError("ALERT_CHANNEL_UNAVAILABLE", `alert channel ${name}: ${where} did not take the mail in time`, { details: { channel: name } });
  }
  const err = e as SmtpError;
  const said = scrubSecrets(err.message ?? String(e));
  const details = { channel: name, smtp: err.code ?? null, status: err.responseCode ?? null };
  const refused = err.code === "EAUTH" || err.code === "ENOAUTH" || err.code === "EENVELOPE" || (err.responseCode !== undefined && err.responseCode >= 500 && err.responseCode !== 503);
  if (refused) {
    const hint = "check the channel's host, login, from and to";
    return new PermanentError("ALERT_CHANNEL_REFUSED", `alert channel ${name}: ${where} refused the mail: ${said}; ${hint}`, { details });
  }
  return new TransientError("ALERT_CHANNEL_UNAVAILABLE", `alert channel ${name}: ${where} failed: ${said}`, { details });
}

export function emailChannel(name: string, settings: EmailSettings): Channel {
  return {
    name,
    type: "email",
    timeoutMs: settings.timeoutMs,
    async send(message: AlertMessage, signal: AbortSignal) {
      const transport = nodemailer.createTransport({
        host: settings.host,
        port: settings.port,
        secure: settings.secure,
        ...(settings.login ? { auth: { user: settings.login.user.reveal(), pass: settings.login.password.reveal() } } : {}),
        connectionTimeout: settings.timeoutMs,
        greetingTimeout: settings.timeoutMs,
        socketTimeout: settings.timeoutMs,
      });
      const stop = aborted(signal);
      try {
        const mail = { from: settings.from, to: [...settings.to], subject: mailSubjectOf(message), text: plainText(message), headers: { "X-Ferry-Alert": message.id } };
        await Promise.race([transport.sendMail(mail), stop.promise]);
      } catch (e) {
        throw failure(name, settings, e, signal);
      } finally {
        stop.dispose();
        transport.close();
      }
    },
  };
}
