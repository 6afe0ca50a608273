/** The API's errors: JSON with the error's code and a message that says what to do. */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { FerryError } from "../../errors.ts";

export const apiError = (c: Context, status: ContentfulStatusCode, code: string, message: string) =>
  c.json({ error: { code, message } }, status);

/** A Ferry error as an API answer: 404 for an unknown thing, 409 for a state that forbids it, else 400. */
export function ferryErrorAnswer(c: Context, e: unknown) {
  if (!(e instanceof FerryError)) throw e;
  const status = /UNKNOWN|NOT_FOUND/.test(e.code) ? 404 : /CLOSED|ALREADY|RESOLVED/.test(e.code) ? 409 : 400;
  return apiError(c, status, e.code, e.message);
}
