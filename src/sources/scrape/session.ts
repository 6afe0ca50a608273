/**
 * A signed-in browser session against the legacy app: every page load goes through `load` or `act`, which
 * pace loads to the configured rate, retry a failed load with exponential backoff, and sign in again when
 * the login form shows up where a page was expected (the session expired).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { BrowserContext, Locator, Page } from "playwright";
import type { Secret } from "../../config/secrets.ts";
import { FatalError, FerryError, TransientError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { firstLine } from "./browser.ts";
import type { ScrapeSourceConfig } from "./scrape.config.ts";
import { isTimeout, loginFailed, pageTimeout, selectorNotFound } from "./scrape.errors.ts";

/** Sign-ins in a row, with no page loaded in between, after which the session counts as lost. */
export const MAX_RELOGINS = 2;

/**
 * Paces events to `perSecond`: each call reserves the next slot and returns how long to wait for it.
 * The first call never waits.
 */
export function createPacer(perSecond: number, now: () => number = Date.now): () => number {
  const interval = 1000 / perSecond;
  let next = Number.NEGATIVE_INFINITY;
  return () => {
    const t = now();
    const at = Math.max(t, next);
    next = at + interval;
    return at - t;
  };
}

/**
 * Cancels a navigation that timed out: left running, it aborts the next one (net::ERR_ABORTED) and keeps
 * the page from being photographed or read. Through CDP: `window.stop()` waits on the navigation it stops.
 */
export async function stopLoading(page: Page): Promise<void> {
  const stop = async () => {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Page.stopLoading");
    await cdp.detach();
  };
  await Promise.race([stop(), sleep(2000, undefined, { ref: false })]).catch(() => {});
}

export interface SessionOptions {
  config: ScrapeSourceConfig;
  context: BrowserContext;
  credentials: { username: Secret; password: Secret } | null;
  signal: AbortSignal;
  log: Logger;
}

export class Session {
  readonly context: BrowserContext;
  readonly timeoutMs: number;
  /** The page last loaded or signed in on: the one to photograph when something fails. */
  lastPage: Page | null = null;
  tracing = false;
  logins = 0;
  readonly #config: ScrapeSourceConfig;
  readonly #credentials: SessionOptions["credentials"];
  readonly #signal: AbortSignal;
  readonly #log: Logger;
  readonly #pace: () => number;
  #reloginsInARow = 0;

  constructor(options: SessionOptions) {
    this.context = options.context;
    this.timeoutMs = options.config.browser.timeout_ms;
    this.#config = options.config;
    this.#credentials = options.credentials;
    this.#signal = options.signal;
    this.#log = options.log;
    this.#pace = createPacer(options.config.page_loads_per_second);
  }

  url(relative: string): string {
    return new URL(relative, this.#config.base_url).href;
  }

  async throttle(): Promise<void> {
    this.#signal.throwIfAborted();
    const wait = this.#pace();
    if (wait > 0) await sleep(wait, undefined, { signal: this.#signal });
  }

  async startTracing(): Promise<void> {
    await this.context.tracing.start({ screenshots: true, snapshots: true, title: "ferry scrape" });
    this.tracing = true;
  }

  /** Drops the trace so far: a login is never recorded, since the trace would hold what was typed and sent. */
  async #pauseTracing(): Promise<boolean> {
    if (!this.tracing) return false;
    this.tracing = false;
    await this.context.tracing.stop();
    return true;
  }

  async loginShown(page: Page): Promise<boolean> {
    const login = this.#config.login;
    return login !== undefined && (await page.locator(login.password_field).count()) > 0;
  }

  async login(page: Page): Promise<void> {
    const login = this.#config.login;
    if (!login || !this.#credentials) return;
    const resume = await this.#pauseTracing();
    await this.load(page, login.url, { checkSession: false });
    const url = page.url();
    const type = async (selector: string, secret: Secret, what: string) => {
      try {
        await page.locator(selector).first().fill(secret.reveal());
      } catch (e) {
        if (isTimeout(e)) throw selectorNotFound(selector, url, what, { timeoutMs: this.timeoutMs, cause: e });
        throw e;
      }
    };
    await type(login.username_field, this.#credentials.username, "login.username_field");
    await type(login.password_field, this.#credentials.password, "login.password_field");
    await this.act(page, page.locator(login.submit).first(), login.submit, { checkSession: false });
    const success = page.locator(login.success);
    const outcome = login.error ? success.or(page.locator(login.error)) : success;
    try {
      await outcome.first().waitFor({ state: "visible" });
    } catch (e) {
      if (!isTimeout(e)) throw e;
      throw loginFailed(url, `no element matches login.success (${JSON.stringify(login.success)}) within ${this.timeoutMs} ms`);
    }
    if ((await success.count()) === 0) {
      const said = (await page.locator(login.error!).first().innerText().catch(() => "")).trim().slice(0, 200);
      throw loginFailed(url, `the app refused it${said ? `, saying "${said}"` : ""}`);
    }
    this.logins++;
    if (resume) await this.startTracing();
  }

  async #relogin(): Promise<void> {
    if (++this.#reloginsInARow > MAX_RELOGINS) {
      throw new FatalError(
        "SOURCE_SCRAPE_SESSION_LOST",
        `the app asked to sign in again ${MAX_RELOGINS} times in a row: its sessions end at once, or login.password_field matches an element on ordinary pages; nothing was applied`,
      );
    }
    this.#log.info({ logins: this.logins }, "the session expired; signing in again");
    const page = await this.context.newPage();
    await this.login(page);
    await page.close();
  }

  /** Opens `target` (relative to base_url): paced, retried with backoff, signed in again if needed. */
  async load(page: Page, target: string, options: { checkSession?: boolean } = {}): Promise<void> {
    const url = this.url(target);
    const { attempts, backoff_ms: backoff } = this.#config.retries;
    for (let attempt = 1; ; attempt++) {
      await this.throttle();
      this.lastPage = page;
      let problem: FerryError;
      try {
        const response = await page.goto(url, { waitUntil: "load", timeout: this.timeoutMs });
        const status = response?.status() ?? 200;
        if (status < 400) {
          if (options.checkSession !== false && (await this.loginShown(page))) {
            await this.#relogin();
            attempt--;
            continue;
          }
          this.#reloginsInARow = 0;
          return;
        }
        const retryable = status >= 500 || status === 408 || status === 429;
        const message = `${url} answered HTTP ${status}${retryable ? ` (${attempt} tries)` : ""}: ${
          retryable ? "the app is failing; try again later" : "the recipe's URL may be out of date; fix it"
        }; nothing was applied`;
        if (!retryable) throw new FatalError("SOURCE_SCRAPE_HTTP_ERROR", message, { details: { url, status } });
        problem = new TransientError("SOURCE_SCRAPE_HTTP_UNAVAILABLE", message, { details: { url, status } });
      } catch (e) {
        if (this.#signal.aborted || e instanceof FerryError) throw e;
        if (isTimeout(e)) {
          problem = pageTimeout(url, this.timeoutMs, attempt, e);
          await stopLoading(page);
        } else if (/net::ERR_/.test(firstLine(e))) {
          problem = new TransientError(
            "SOURCE_SCRAPE_UNREACHABLE",
            `${url} could not be loaded (${attempt} tries): ${firstLine(e)}. Check base_url and that the app is up; nothing was applied`,
            { cause: e, details: { url } },
          );
        } else throw e;
      }
      if (attempt >= attempts) throw problem;
      const wait = backoff * 2 ** (attempt - 1);
      this.#log.warn({ attempt, waitMs: wait, err: problem.code }, "page load failed; retrying");
      await sleep(wait, undefined, { signal: this.#signal });
    }
  }

  /**
   * Clicks an element that may open a page: paced; then waits for the page to load. If it lands on
   * the login form, signs in again, reopens the page the action started from and runs it once more.
   */
  async act(
    page: Page,
    target: Locator,
    selector: string,
    options: { checkSession?: boolean; frame?: string | undefined } = {},
  ): Promise<void> {
    const from = page.url();
    const attempt = async () => {
      await this.throttle();
      this.lastPage = page;
      try {
        await target.click();
      } catch (e) {
        if (!isTimeout(e)) throw e;
        // A click also waits for the navigation it starts: when the element is there, the page is what timed out.
        if ((await target.count().catch(() => 0)) > 0) {
          await stopLoading(page);
          throw pageTimeout(`the page opened by clicking ${JSON.stringify(selector)}`, this.timeoutMs, 1, e);
        }
        throw selectorNotFound(selector, page.url(), "clicking", { frame: options.frame, timeoutMs: this.timeoutMs, cause: e });
      }
      try {
        await page.waitForLoadState("load", { timeout: this.timeoutMs });
      } catch (e) {
        if (!isTimeout(e)) throw e;
        await stopLoading(page);
        throw pageTimeout(page.url(), this.timeoutMs, 1, e);
      }
    };
    await attempt();
    if (options.checkSession !== false && (await this.loginShown(page))) {
      await this.#relogin();
      await this.load(page, from);
      await attempt();
    }
  }
}
