import { Args } from '@oclif/core';
import { TacoCommand } from '../cli/base-command.js';
import { decodeMsgId } from '../core/msgid.js';

export default class MsgId extends TacoCommand {
  static override summary = 'Decode a message id into its time, shard, node and sequence';
  static override examples = ['<%= config.bin %> msgid 120325459735724033'];
  static override args = { id: Args.string({ description: 'message id (decimal u64)', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(MsgId);
    const p = decodeMsgId(args.id);
    this.log(
      JSON.stringify({ time: new Date(p.timeMs).toISOString(), shard: p.shard, node: p.node, seq: p.seq }),
    );
  }
}
