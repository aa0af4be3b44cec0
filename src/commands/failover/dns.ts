import { Args, Flags } from '@oclif/core';
import { TacoCommand } from '../../cli/base-command.js';
import { runDrillCommand } from '../../failover/command.js';
import { drillFlags } from '../../failover/flags.js';

export default class FailoverDns extends TacoCommand {
  static override summary =
    'Point a region’s clients at another ezone, then watch the drain against the drill’s SLOs';
  static override description =
    'GET /v1/dispatch?region=REGION answers EZONE from now on; the gateways of the ezone that served the region close ' +
    'its sessions (4503, naming EZONE) at their bounded drain rate, and admission control paces the sign-ins in EZONE. ' +
    'Exit 0 when every SLO held, 1 when one failed, 2 for bad input.';
  static override examples = [
    '<%= config.bin %> failover dns sh --to bj --dry-run',
    '<%= config.bin %> failover dns sh --to bj --slo "sometimes(drain.complete) within 60s after change"',
  ];
  static override args = {
    region: Args.string({ description: 'region whose clients move', required: true }),
  };
  static override flags = {
    to: Flags.string({ description: 'ezone that takes the region', required: true }),
    ...drillFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(FailoverDns);
    const code = await runDrillCommand(
      this,
      flags,
      { kind: 'change', change: { kind: 'region', region: args.region, to: flags.to } },
      `taco failover dns ${args.region} --to ${flags.to}`,
    );
    if (code) this.exit(code);
  }
}
