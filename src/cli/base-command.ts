/**
 * Shared behaviour of every command: TacoErrors become the exit codes of
 * SPEC §5 (2 bad usage or input, 3 internal failure) with a message that says
 * what was wrong; flag parse errors are exit 2 too.
 */
import { Command, Errors } from '@oclif/core';
import { asTacoError } from '../core/errors.js';

export const ExitCodes = { OK: 0, CHECK_FAILED: 1, BAD_INPUT: 2, INTERNAL: 3 } as const;

export abstract class TacoCommand extends Command {
  protected override async catch(
    err: Error & { exitCode?: number; oclif?: { exit?: number } },
  ): Promise<unknown> {
    if (err instanceof Errors.ExitError) throw err;
    // oclif's own parse errors (unknown flag, missing arg) are usage errors.
    if (err.oclif && !(err as { code?: string }).code?.startsWith?.('TACO')) {
      if (err.message && /flag|argument|Expected|Missing|Unexpected|Nonexistent/i.test(err.message)) {
        this.logToStderr(`taco: ${err.message}`);
        this.exit(ExitCodes.BAD_INPUT);
      }
    }
    const e = asTacoError(err);
    if (e.cls === 'user' || e.code === 'BAD_INPUT') {
      this.logToStderr(`taco: ${e.message}`);
      this.exit(ExitCodes.BAD_INPUT);
    }
    this.logToStderr(`taco: ${e.code === 'INTERNAL' ? 'internal error: ' : ''}${e.message}`);
    if (process.env.TACO_DEBUG && err.stack) this.logToStderr(err.stack);
    this.exit(ExitCodes.INTERNAL);
  }
}
