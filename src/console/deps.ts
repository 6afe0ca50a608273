/** What the console is given: the project, its state store, and the service it asks for runs. */
import type { Project } from "../config/load.ts";
import type { Logger } from "../log.ts";
import type { StateStore } from "../state/store.ts";
import type { Role } from "./auth/roles.ts";

export interface ConsoleDeps {
  project: Project;
  store: StateStore;
  log: Logger;
  /** Asks for a run of a job now (through the cluster's queue with PostgreSQL state); absent: runs cannot be triggered. */
  requestRun?: (job: string, reason: string) => Promise<void>;
  /** `http.metrics_token` resolved: `/metrics` then needs it as a bearer token. */
  metricsToken?: string;
  /** The scheduler's state for `/readyz`: `running`, `stopping`; absent when this process runs none. */
  scheduler?: () => "running" | "stopping";
  /** Served over TLS: cookies are `Secure`. */
  secure: boolean;
  now?: () => Date;
}

/** The signed-in caller of a request: a user by session (browser) or by API token. */
export interface Caller {
  name: string;
  role: Role;
  /** The session's form token (browser sessions only), checked on every form. */
  csrf?: string;
  via: "session" | "token";
}

/** The audit log's actor for a caller. */
export const actorOf = (caller: Caller): string => `${caller.via === "token" ? "token" : "user"}:${caller.name}`;
