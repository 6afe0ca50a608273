/** What the steps of one destination's delivery share: its run, and the tally it reports. */
import type { Project } from "../config/load.ts";
import type { Destination } from "../destinations/destination.ts";
import type { ErrorCode } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { StateStore } from "../state/store.ts";
import type { RemoteEditsContext } from "./remote-edits.ts";

export interface DeliveryTally {
  delivered: number;
  created: number;
  updated: number;
  deleted: number;
  retried: number;
  dead: number;
  /** Sends held back because the destination as a whole was unavailable (no attempt counted). */
  held: number;
  /** Fields an update left alone because a person changed them in the destination (`remote_edits`). */
  remoteEdits: number;
  /** Still pending when delivery stopped: the destination unavailable, or retries not yet due. */
  pending: number;
  /** Why records are still pending: the destination, its last error, and when it is tried again. */
  error?: string;
  /** The code of the error that left the destination unavailable (DEST_UNAUTHORIZED: exit 5). */
  errorCode?: ErrorCode;
}

export const emptyTally = (): DeliveryTally => ({
  delivered: 0,
  created: 0,
  updated: 0,
  deleted: 0,
  retried: 0,
  dead: 0,
  held: 0,
  remoteEdits: 0,
  pending: 0,
});

/** One destination's delivery: what each of its steps needs. */
export interface DeliveryRun {
  project: Project;
  store: StateStore;
  destination: Destination;
  signal: AbortSignal;
  now: () => Date;
  random: (() => number) | undefined;
  log: Logger;
  tally: DeliveryTally;
  maxAttempts: number;
  /**
   * Rows read and sent at a time. A page holds several rounds of `concurrency` batches: the pause between
   * pages (committing one, reading the next) then costs little of a rate-limited destination's allowance.
   */
  pageSize: number;
  remoteEdits: RemoteEditsContext;
}
