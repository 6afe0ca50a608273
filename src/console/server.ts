/**
 * The console's listener, started by `ferry serve`: `http.listen` of ferry.yaml (default 127.0.0.1:8080;
 * port 0 takes a free one). An address other than loopback is refused unless `http.tls` serves HTTPS or
 * `http.insecure: true` says a TLS proxy stands in front: sessions and tokens never cross a network in clear
 * by accident.
 */
import { readFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { createAdaptorServer } from "@hono/node-server";
import { locate } from "../config/locate.ts";
import { resolveSecret } from "../config/secrets.ts";
import { ConfigError } from "../errors.ts";
import { createConsoleApp } from "./app.ts";
import type { ConsoleDeps } from "./deps.ts";

export interface RunningConsole {
  /** Where it answers, e.g. http://127.0.0.1:8080. */
  url: string;
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/** host and port of `http.listen`; a non-loopback host without TLS or `insecure` is a ConfigError at its line. */
function listenAddress(deps: Omit<ConsoleDeps, "secure">): { host: string; port: number } {
  const { http } = deps.project.config;
  const at = http.listen.lastIndexOf(":");
  const host = http.listen.slice(0, at);
  const port = Number(http.listen.slice(at + 1));
  const where = () => locate(deps.project.dir, path.basename(deps.project.file), "http.listen");
  if (port > 65_535) throw new ConfigError("CONFIG_INVALID", `http.listen ${http.listen}: the port must be 0 to 65535`, where());
  if (!LOOPBACK.test(host) && !http.tls && !http.insecure) {
    throw new ConfigError(
      "CONFIG_INVALID",
      `http.listen ${http.listen} is not a loopback address, and the console would carry passwords and sessions in clear: set http.tls (cert and key), or http.insecure: true when a TLS proxy stands in front`,
      where(),
    );
  }
  return { host: host.replace(/^\[|\]$/g, ""), port };
}

export async function startConsole(deps: Omit<ConsoleDeps, "secure">): Promise<RunningConsole> {
  const { host, port } = listenAddress(deps);
  const tls = deps.project.config.http.tls;
  const token = deps.project.config.http.metrics_token;
  const metricsToken = token
    ? resolveSecret(token, { env: deps.project.env, baseDir: deps.project.dir, where: locate(deps.project.dir, path.basename(deps.project.file), "http.metrics_token") }).reveal()
    : undefined;
  const app = createConsoleApp({ ...deps, secure: tls !== undefined, ...(metricsToken ? { metricsToken } : {}) });
  const file = (p: string) => readFileSync(path.resolve(deps.project.dir, p));
  const server = tls
    ? createAdaptorServer({
        fetch: app.fetch,
        createServer: createHttpsServer,
        serverOptions: { cert: file(tls.cert), key: file(tls.key) },
      })
    : createAdaptorServer({ fetch: app.fetch });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `${tls ? "https" : "http"}://${shown}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
