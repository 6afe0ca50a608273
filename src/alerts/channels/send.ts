/**
 * Sends one message to one channel: an attempt bounded by the channel's timeout, tried again with
 * exponential backoff (cockatiel) while the failure may pass (ALERT_CHANNEL_UNAVAILABLE), at most
 * `attempts` times in all. Never throws: every failed attempt is logged as a warning naming the channel,
 * and giving up as an error; the caller learns only whether the message went. A stop (`signal`) starts no
 * attempt after the first; an attempt in flight ends within its timeout.
 */
import { ExponentialBackoff, handleWhen, retry } from "cockatiel";
import { describeError, TransientError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { AlertMessage } from "../message.ts";
import type { Channel } from "./channel.ts";

export interface RetrySettings {
  /** Attempts in all (default 3). */
  attempts: number;
  /** The wait before the second attempt (default 1 s), doubled for each after, with jitter. */
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetrySettings = { attempts: 3, initialDelayMs: 1_000, maxDelayMs: 10_000 };

export async function sendToChannel(
  channel: Channel,
  message: AlertMessage,
  options: { log: Logger; signal: AbortSignal; retry?: RetrySettings },
): Promise<boolean> {
  const settings = options.retry ?? DEFAULT_RETRY;
  const log = options.log.child({ channel: channel.name, type: channel.type, alert: message.id });
  const policy = retry(
    handleWhen((e) => e instanceof TransientError && !options.signal.aborted),
    {
      maxAttempts: settings.attempts - 1,
      backoff: new ExponentialBackoff({ initialDelay: settings.initialDelayMs, maxDelay: settings.maxDelayMs }),
    },
  ).dangerouslyUnref();
  try {
    await policy.execute(async ({ attempt }) => {
      // The first attempt is made even when stopping: the message was taken to be sent, by this process only.
      if (attempt > 0) options.signal.throwIfAborted();
      try {
        await channel.send(message, AbortSignal.timeout(channel.timeoutMs));
      } catch (e) {
        log.warn({ attempt: attempt + 1, attempts: settings.attempts, err: describeError(e) }, `alert channel ${channel.name}: attempt ${attempt + 1} failed`);
        throw e;
      }
    }, options.signal);
    log.info({ rule: message.rule, subject: message.subject, message: message.type }, `alert sent to ${channel.name}`);
    return true;
  } catch (e) {
    log.error({ err: describeError(e) }, `alert channel ${channel.name}: gave up; this ${message.type} of ${message.rule} (${message.subject}) was not sent there`);
    return false;
  }
}
