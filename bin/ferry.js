#!/usr/bin/env node
// The `ferry` command. Node runs the TypeScript sources directly (type stripping), so there is no build.
import "../src/cli/main.ts";
