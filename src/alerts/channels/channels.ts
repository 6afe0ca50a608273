/**
 * The project's alert channels (`alerts.channels`), made when `ferry serve` starts: each block's references
 * resolved then (the serve command has checked they resolve), its credentials (a webhook's `secret`, a
 * Slack URL, an SMTP login) turned into `Secret`s, revealed only in the request that uses them.
 */
import type { Project } from "../../config/load.ts";
import { durationMs } from "../../config/duration.ts";
import { locate } from "../../config/locate.ts";
import type { ChannelConfig } from "../../config/project.schema.ts";
import { resolveSystem, type SystemBlock } from "../../config/systems.ts";
import { ConfigError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { type RunContext, runContext } from "../../run-context.ts";
import type { Channel } from "./channel.ts";
import { emailChannel } from "./email.channel.ts";
import { slackChannel } from "./slack.channel.ts";
import { webhookChannel } from "./webhook.channel.ts";

export interface ChannelOptions {
  log: Logger;
  /** The clock of a webhook's signature. */
  now?: () => Date;
}

export function createChannels(project: Project, options: ChannelOptions): Map<string, Channel> {
  const channels = new Map<string, Channel>();
  for (const [name, block] of project.systems.channels ?? []) channels.set(name, createChannel(project, name, block, options));
  return channels;
}

/** An http(s) URL, as the channel's field resolved to; else a ConfigError at the field's line (never echoing a credential). */
function httpUrl(project: Project, block: SystemBlock, field: string, value: string, credential: boolean): string {
  if (URL.canParse(value) && /^https?:$/.test(new URL(value).protocol)) return value;
  const shown = credential ? "its value" : JSON.stringify(value);
  throw new ConfigError("CONFIG_BAD_URL", `${shown} is not an http(s) URL`, locate(project.dir, block.file, [...block.at.map(String), field]));
}

function createChannel(project: Project, name: string, block: SystemBlock, options: ChannelOptions): Channel {
  const config = resolveSystem<ChannelConfig>(project, block);
  const context: RunContext = runContext({ baseDir: project.dir, env: project.env, log: options.log, file: block.file, block: `alerts.channels.${name}` });
  const timeoutMs = durationMs(config.timeout);
  switch (config.type) {
    case "webhook": {
      const url = httpUrl(project, block, "url", config.url, false);
      return webhookChannel(name, { url, secret: context.secret("secret", config.secret), timeoutMs, ...(options.now ? { now: options.now } : {}) });
    }
    case "slack": {
      const url = context.secret("url", config.url);
      httpUrl(project, block, "url", url.reveal(), true);
      return slackChannel(name, { url, timeoutMs });
    }
    case "email": {
      const login = config.user && config.password ? { user: context.secret("user", config.user), password: context.secret("password", config.password) } : undefined;
      const { host, port, secure, from, to } = config;
      return emailChannel(name, { host, port, secure, from, to, timeoutMs, ...(login ? { login } : {}) });
    }
  }
}
