/**
 * What a failed scrape leaves behind to debug it: a screenshot of the page, its HTML, and the Playwright
 * trace of the session since the last login (the login itself is never traced, so no credential is in it).
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { BrowserContext, Page } from "playwright";
import type { FerryError } from "../../errors.ts";
import { stopLoading } from "./session.ts";

export interface ArtifactSources {
  page: Page | null;
  context: BrowserContext | null;
  /** Whether a trace is being recorded (false during a login). */
  tracing: boolean;
}

const LIMIT_MS = 5000;

/** Saves what it can, each part on its own: one that fails (a crashed page) never hides the others. */
export async function saveArtifacts(dir: string, from: ArtifactSources): Promise<string[]> {
  if (!from.page && !from.context) return [];
  await mkdir(dir, { recursive: true });
  const saved: string[] = [];
  const attempt = async (file: string, write: (target: string) => Promise<unknown>) => {
    const target = path.join(dir, file);
    try {
      await write(target);
      saved.push(target);
    } catch {
      // A part that cannot be saved is left out of the list; the error itself still stands.
    }
  };
  const { page, context } = from;
  if (page && !page.isClosed()) {
    await stopLoading(page);
    await attempt("screenshot.png", (target) => page.screenshot({ path: target, fullPage: true, timeout: LIMIT_MS }));
    await attempt("page.html", async (target) => writeFile(target, await withLimit(page.content())));
  }
  if (context && from.tracing) {
    await attempt("trace.zip", (target) => withLimit(context.tracing.stop({ path: target })));
  }
  return saved;
}

function withLimit<T>(work: Promise<T>): Promise<T> {
  return Promise.race([
    work,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timed out")), LIMIT_MS).unref()),
  ]);
}

/** Names the artifacts in the error's message, so `ferry runs` shows where to look. */
export function attachArtifacts(error: FerryError, files: readonly string[]): FerryError {
  if (files.length === 0) return error;
  const trace = files.find((f) => f.endsWith(".zip"));
  error.message += `. Artifacts: ${files.join(", ")}${trace ? ` (open the trace with \`npx playwright show-trace ${trace}\`)` : ""}`;
  (error.details as Record<string, unknown>).artifacts = [...files];
  return error;
}
