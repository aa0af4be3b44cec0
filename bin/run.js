#!/usr/bin/env node
// Entry point of the `taco` binary: oclif loads the compiled commands from dist/.
// `taco serve` needs node flags set at start-up (dist/server/node-flags.js): without them it
// starts itself again with them, and this process only passes signals on.
import { relaunchServeIfNeeded } from '../dist/server/node-flags.js';

if (!(await relaunchServeIfNeeded(process.argv.slice(2), process.argv[1]))) {
  const { execute } = await import('@oclif/core');
  await execute({ dir: import.meta.url });
}
