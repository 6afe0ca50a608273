/**
 * Every source type Ferry knows, by import. To add a connector, add its folder and one line here: the job
 * schema, the loader, `ferry validate --schemas` and the runner all read this registry.
 */
import { ConnectorRegistry } from "../config/connector.ts";
import { csvSource } from "./csv/csv.source.ts";
import { folderSource } from "./folder/folder.source.ts";
import { scrapeSource } from "./scrape/scrape.source.ts";
import { sftpSource } from "./sftp/sftp.source.ts";
import type { SourceDefinition } from "./source.ts";
import { sqlSource } from "./sql/sql.source.ts";

export const sources = new ConnectorRegistry<SourceDefinition>("source")
  .add(sqlSource)
  .add(csvSource)
  .add(folderSource)
  .add(sftpSource)
  .add(scrapeSource);
