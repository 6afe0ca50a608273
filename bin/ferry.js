#!/usr/bin/env -S node --max-semi-space-size=16
// The `ferry` command. Node runs the TypeScript sources directly (type stripping), so there is no build.
// A 16 MB young generation (Node's default grows it to 64 MB) keeps peak memory flat whatever the size of
// the table or file being synced, at no measurable cost in speed (see README, Performance).
import "../src/cli/main.ts";
