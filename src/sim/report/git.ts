/**
 * The commit of the taco checkout the simulator runs from, named in every
 * report so a result can be reproduced (same seed + same commit = same run).
 * TACO_GIT_COMMIT overrides it (CI, release builds without .git); outside a
 * git checkout it is 'unknown'. Git is asked once per process.
 */
import { execFileSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function gitCommit(): string {
  const fromEnv = process.env['TACO_GIT_COMMIT'];
  if (fromEnv) return fromEnv.trim();
  if (cached === undefined) {
    try {
      // The checkout holding this file, not the user's current directory.
      cached = execFileSync('git', ['rev-parse', 'HEAD'], {
        cwd: dirname(fileURLToPath(import.meta.url)),
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 5_000,
      }).trim();
      if (!/^[0-9a-f]{7,64}$/.test(cached)) cached = 'unknown';
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}
