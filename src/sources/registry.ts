/**
 * Every source type Ferry knows, by import. To add a connector, add its folder and one line here (and its
 * config schema to the job schema's `source` union).
 */
import { csvSource } from "./csv/csv.source.ts";
import { folderSource } from "./folder/folder.source.ts";
import { scrapeSource } from "./scrape/scrape.source.ts";
import { sftpSource } from "./sftp/sftp.source.ts";
import type { SourceDefinition } from "./source.ts";
import { sqlSource } from "./sql/sql.source.ts";

const register = <C>(definition: SourceDefinition<C>) => definition as SourceDefinition<unknown>;

export const sources: Record<string, SourceDefinition<unknown>> = {
  sql: register(sqlSource),
  csv: register(csvSource),
  folder: register(folderSource),
  sftp: register(sftpSource),
  scrape: register(scrapeSource),
};
