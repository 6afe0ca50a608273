#!/usr/bin/env -S node --max-semi-space-size=16
// The `ferry` command. Node runs the TypeScript sources directly (type stripping), so there is no build.
// A 16 MB young generation (Node's default grows it to 64 MB) lowers peak memory at no measurable cost in
// speed; the rest of the heap's sizing is in src/cli/heap.ts.
import "../src/cli/main.ts";
