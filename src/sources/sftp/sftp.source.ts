/**
 * `sftp` source: the files a legacy system leaves on an SFTP server, taken by each run (sftp.files.ts) and
 * applied one by one, like dropped files. A connection that drops fails that file cleanly; the next run
 * retries it. This file reads the run's context and hands the login's secret references to the client,
 * which resolves them when it connects.
 */
import path from "node:path";
import { checkEachFile } from "../../files/each-file.ts";
import { globToRegExp } from "../../files/lifecycle.ts";
import type { Source, SourceContext, SourceDefinition } from "../source.ts";
import { openSftpLogin } from "./sftp.client.ts";
import { type SftpSourceConfig, sftpSourceSchema } from "./sftp.config.ts";
import { type RemoteFolder, sftpFiles } from "./sftp.files.ts";

export function createSftpSource(config: SftpSourceConfig, context: SourceContext): Source {
  const server = `sftp://${config.host}:${config.port}`;
  const log = context.log.child({ sftp: `${server}${config.folder}` });
  // Local copies live in the project's .ferry folder, one folder per server and remote folder.
  const slug = `${config.host}-${config.port}${config.folder}`.replace(/[^A-Za-z0-9.-]+/g, "_");
  const folder: RemoteFolder = {
    config,
    server,
    pattern: globToRegExp(config.pattern),
    local: path.join(context.baseDir, ".ferry", "sftp", slug),
    baseDir: context.baseDir,
    log,
    connect: () => openSftpLogin(config, (field, reference) => context.secret(field, reference), log),
  };
  return {
    describe: `sftp ${server}${config.folder}`,
    commitUnit: "run",
    eachFile: config.each_file,
    read: () => {
      throw new Error("an sftp source is read file by file (files())");
    },
    files: (signal, options) => sftpFiles(folder, signal, options),
    close: async () => {},
  };
}

export const sftpSource: SourceDefinition<SftpSourceConfig> = {
  type: "sftp",
  configSchema: sftpSourceSchema,
  modes: ["snapshot"],
  modesNote: "a file is read whole",
  columnsFrom: "file",
  validate: checkEachFile,
  create: createSftpSource,
};
