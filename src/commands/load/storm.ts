import { Flags } from '@oclif/core';
import { TacoCommand } from '../../cli/base-command.js';
import { TacoError } from '../../core/errors.js';
import {
  durationFlag,
  fleetFlags,
  fleetFrom,
  runChecked,
  targetFlags,
  targetFrom,
} from '../../load/flags.js';
import { progress } from '../../load/progress.js';
import { formatStorm, runStorm } from '../../load/storm.js';

export default class LoadStorm extends TacoCommand {
  static override summary = 'Drop every session at once and measure how long until all are signed in again';
  static override description =
    'Signs --clients in, waits --settle, then cuts every connection at once (the SDK sees a network failure and ' +
    'reconnects by its own backoff policy). The server’s admission control turns the excess away with 4503 ' +
    'retry-after, as in production. Reports the time until every client is back, per-client recovery percentiles ' +
    'and the attempts turned away. Exit 1 if not every client is back within --recovery-timeout.';
  static override examples = ['<%= config.bin %> load storm --app demo --secret S --clients 15000'];
  static override enableJsonFlag = true;
  static override flags = {
    ...targetFlags,
    ...fleetFlags,
    fraction: Flags.string({
      description: 'share of the sessions to drop, 0 < F ≤ 1 (1 = every session)',
      default: '1',
    }),
    settle: durationFlag({
      description: 'quiet time between the last sign-in and the drop',
      default: 1_000,
      minMs: 0,
      maxMs: 600_000,
    }),
    'recovery-timeout': durationFlag({
      description: 'give up (exit 1) if not every client is back within this time after the drop',
      default: 300_000,
      minMs: 1_000,
      maxMs: 3_600_000,
    }),
  };

  async run() {
    const { flags } = await this.parse(LoadStorm);
    const fraction = Number(flags.fraction);
    if (!(fraction > 0 && fraction <= 1))
      throw new TacoError('BAD_INPUT', `--fraction ${flags.fraction}: expected a number in (0, 1]`);
    const r = await runChecked(this, () =>
      runStorm(
        {
          target: targetFrom(flags),
          fleet: fleetFrom(flags),
          settleMs: flags.settle,
          fraction,
          recoveryTimeoutMs: flags['recovery-timeout'],
        },
        progress(!flags.quiet),
      ),
    );
    this.log(formatStorm(r));
    return r;
  }
}
