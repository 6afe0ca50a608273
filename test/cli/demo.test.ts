/**
 * `npm run demo` (node fixtures/demo/demo.ts): exits 0 by itself, which also shows that it leaves no
 * emulator or connection open, and its second pass pushes nothing. It writes under the repo's .ferry/demo.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { childEnv, exited, ROOT } from "./project.ts";

test("the demo exits 0 and its second pass creates and updates nothing", async () => {
  const child = spawn(process.execPath, [path.join(ROOT, "fixtures", "demo", "demo.ts")], {
    cwd: ROOT,
    env: childEnv({}),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  const code = await exited(child, 30_000, "the demo");
  const shown = `exit ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`;
  assert.equal(code, 0, shown);

  const pass2 = stdout.split("— pass 2 —")[1]?.split("\n\n")[0];
  assert.ok(pass2, `no pass 2 in the output:\n${shown}`);
  const jobs = [...pass2.matchAll(/^(\S+) +(\w+): read (\d+), unchanged (\d+), changed (\d+)/gm)];
  assert.deepEqual(
    jobs.map((m) => [m[1], m[2], m[5]]),
    [
      ["erp-customers", "succeeded", "0"],
      // Two rows of the field team's CSV are broken on purpose, on every pass.
      ["field-team", "partial", "0"],
    ],
    pass2,
  );
  const pushed = [
    ...pass2.matchAll(/HubSpot: created (\d+), updated (\d+), failed (\d+); (\d+) API requests/g),
  ];
  assert.deepEqual(
    pushed.map((m) => m.slice(1)),
    [
      ["0", "0", "0", "0"],
      ["0", "0", "0", "0"],
    ],
    pass2,
  );
});
