/**
 * `ferry serve`'s banner names every job it runs: the scheduled ones with their time zone, the watched
 * folders, and the console's address.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { CLI, childEnv, createCliProject, exited, LEGACY_JOB, TOKEN } from "./project.ts";

test("the banner lists the scheduled jobs, the watched folders and where the console answers", async (t) => {
  const project = createCliProject({ customers: 3 });
  t.after(() => project.cleanup());
  project.write("jobs/legacy.yaml", `${LEGACY_JOB}schedule: "0 2 * * *"\ntimezone: Europe/Paris\n`);
  project.write("jobs/drops.yaml", "source:\n  type: folder\n  path: drop\n  pattern: \"*.csv\"\n  format: { format: csv }\nmapping: customer\nas: field\ndeletes:\n  policy: ignore\n");
  const child = spawn(process.execPath, [CLI, "--config", project.dir, "serve"], {
    cwd: project.dir,
    env: childEnv({ HUBSPOT_BASE_URL: "http://127.0.0.1:9", HUBSPOT_TOKEN: TOKEN }),
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exit = exited(child, 60_000, "ferry serve");
  let stderr = "";
  const banner = new Promise<string>((resolve) => {
    child.stderr!.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
      const line = stderr.split("\n").find((l) => l.startsWith("ferry serve: one process"));
      if (line) resolve(line);
    });
  });
  const line = await Promise.race([banner, exit.then(() => assert.fail(`ferry serve exited:\n${stderr}`))]);
  child.kill("SIGTERM");
  assert.equal(await exit, 0, stderr);
  assert.match(line, /1 scheduled job\(s\): legacy \(0 2 \* \* \* Europe\/Paris\); watching drops \(a folder\);/);
  assert.match(line, /; console at http:\/\/127\.0\.0\.1:\d+\./);
});
