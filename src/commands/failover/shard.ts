import { Args, Flags } from '@oclif/core';
import { TacoCommand } from '../../cli/base-command.js';
import { runDrillCommand } from '../../failover/command.js';
import { drillFlags } from '../../failover/flags.js';

export default class FailoverShard extends TacoCommand {
  static override summary = 'Move shards to another ezone, then watch the nodes against the drill’s SLOs';
  static override description =
    'Pushes of the shards are processed in EZONE from the next message on; messages already accepted finish where ' +
    'they are, and their ACKs are routed there. A change that would leave a shard with no ezone is refused. ' +
    'Exit 0 when every SLO held, 1 when one failed, 2 for bad input.';
  static override examples = [
    '<%= config.bin %> failover shard 0-14 --to bj --dry-run',
    '<%= config.bin %> failover shard 0-14 --to bj --url http://sh-1:8080 --slo "count(ack.forward_failed) == 0"',
  ];
  static override args = { ids: Args.string({ description: 'shards, e.g. 0-14 or 0-4,9', required: true }) };
  static override flags = {
    to: Flags.string({ description: 'ezone that takes the shards', required: true }),
    ...drillFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(FailoverShard);
    const code = await runDrillCommand(
      this,
      flags,
      { kind: 'change', change: { kind: 'shards', shards: args.ids, to: flags.to } },
      `taco failover shard ${args.ids} --to ${flags.to}`,
    );
    if (code) this.exit(code);
  }
}
