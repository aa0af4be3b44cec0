#!/usr/bin/env node
// Entry point of the `taco` binary: oclif loads the compiled commands from dist/.
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
