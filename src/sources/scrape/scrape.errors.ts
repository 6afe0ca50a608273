/** The scrape source's errors: a stable code each, and a message that says what to do next. */
import { ConfigError, FatalError, FerryError, TransientError } from "../../errors.ts";
import { firstLine } from "./browser.ts";

/** Playwright's TimeoutError, recognised by name so that this module does not load Playwright. */
export const isTimeout = (e: unknown): boolean => e instanceof Error && e.name === "TimeoutError";

const inFrame = (frame: string | undefined) => (frame ? ` in the iframe ${JSON.stringify(frame)}` : "");

export function selectorNotFound(
  selector: string,
  url: string,
  what: string,
  options: { frame?: string | undefined; timeoutMs?: number; cause?: unknown } = {},
): FatalError {
  const within = options.timeoutMs === undefined ? "" : ` within ${options.timeoutMs} ms`;
  return new FatalError(
    "SOURCE_SCRAPE_SELECTOR_NOT_FOUND",
    `${what}: no element matches ${JSON.stringify(selector)}${inFrame(options.frame)} on ${url}${within}. The app's page has changed or is not the expected one: compare the recipe with the screenshot and page.html, and fix the selector; nothing was applied`,
    { cause: options.cause, details: { selector, url } },
  );
}

export function pageTimeout(url: string, timeoutMs: number, attempts: number, cause?: unknown): TransientError {
  const tries = attempts === 1 ? "" : ` (${attempts} tries)`;
  return new TransientError(
    "SOURCE_SCRAPE_TIMEOUT",
    `${url} did not load within ${timeoutMs} ms${tries}: check that the app is up and answering, or raise browser.timeout_ms; nothing was applied`,
    { cause, details: { url } },
  );
}

export function loginFailed(url: string, reason: string): ConfigError {
  return new ConfigError(
    "SOURCE_SCRAPE_LOGIN_FAILED",
    `the login at ${url} failed: ${reason}. Check the credentials that login.username and login.password refer to, and that login.success matches an element shown only once signed in; nothing was applied`,
    undefined,
    { details: { url } },
  );
}

export function emptyPage(what: string, url: string, rows: string | null): FatalError {
  const found = rows === null ? "holds no records" : `has no rows matching ${JSON.stringify(rows)}`;
  const allow = rows === null ? "" : "; if the list can really be empty, set extract.allow_empty: true";
  return new FatalError(
    "SOURCE_SCRAPE_EMPTY_PAGE",
    `${what} (${url}) ${found}. The app may have failed or changed its markup (see the screenshot)${allow}. Nothing was applied, so no record was deleted`,
    { details: { url } },
  );
}

export function requiredFieldMissing(field: string, row: string, url: string): FatalError {
  return new FatalError(
    "SOURCE_SCRAPE_REQUIRED_FIELD",
    `${row} on ${url} has no value for the required field "${field}": the app shows an incomplete record or its markup changed (see page.html); fix the data or the recipe. Nothing was applied`,
    { details: { field, url } },
  );
}

/** Anything thrown that is not already Ferry's, in Ferry's terms. */
export function asFerryError(e: unknown): FerryError {
  if (e instanceof FerryError) return e;
  if (isTimeout(e)) {
    return new TransientError(
      "SOURCE_SCRAPE_TIMEOUT",
      `the browser timed out: ${firstLine(e)}. Check the app answers, or raise browser.timeout_ms; nothing was applied`,
      { cause: e },
    );
  }
  return new FatalError(
    "SOURCE_SCRAPE_FAILED",
    `the scrape stopped: ${firstLine(e)}; nothing was applied`,
    { cause: e },
  );
}
