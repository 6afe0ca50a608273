/**
 * Who this process is to the other workers on one state store: a worker id (`ferry serve --worker-id`, else
 * `<host>:<pid>`), written on every lease it takes and on its pg-boss instance, so `ferry workers` and
 * `ferry runs` name it.
 */
import { randomUUID } from "node:crypto";
import os from "node:os";
import type { LeaseHolder } from "../state/leases.repo.ts";

/** The worker id of a process that was not given one. */
export const defaultWorkerId = (): string => `${os.hostname()}:${process.pid}`;

let current: string | undefined;

/** This process's worker id. */
export const workerId = (): string => current ?? defaultWorkerId();

/**
 * Names this process for the rest of its life (`ferry serve --worker-id`). An id is at most 100 characters
 * of letters, digits and `._:@-`, so it reads the same in a log line, a table and a URL.
 */
export function setWorkerId(id: string): void {
  if (!/^[\w.:@-]{1,100}$/.test(id)) {
    throw new Error(`worker id ${JSON.stringify(id)} is not valid: use 1 to 100 letters, digits and . _ : @ -`);
  }
  current = id;
}

/** A holder for one holding of a lease by this process: an id of its own, this worker, pid and host. */
export function thisProcess(): LeaseHolder {
  return { holder: randomUUID(), worker: workerId(), pid: process.pid, host: os.hostname() };
}

/** Whether the process a holder names is alive on this host (then an expired lease of it is only late). */
export function aliveHere(holder: Pick<LeaseHolder, "pid" | "host">): boolean {
  if (holder.host !== os.hostname()) return false;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
