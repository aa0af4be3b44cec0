import { Flags } from '@oclif/core';
import { TacoCommand } from '../../cli/base-command.js';
import { clientOf } from '../../failover/command.js';
import { connectionFlags } from '../../failover/flags.js';
import { formatStatus } from '../../failover/format.js';

export default class FailoverStatus extends TacoCommand {
  static override summary = 'Show the shard map, its recent changes, and the sessions each node holds';
  static override examples = ['<%= config.bin %> failover status --url http://sh-1:8080'];
  static override flags = {
    ...connectionFlags,
    history: Flags.integer({ description: 'changes to list', default: 10, min: 0, max: 100 }),
    json: Flags.boolean({ description: 'print one JSON object' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(FailoverStatus);
    const client = clientOf(flags);
    const { current, history } = await client.shardMap(flags.history);
    const nodes = await client.nodes().catch(() => []);
    const sessions = await Promise.all(
      nodes
        .filter((n) => n.http)
        .map((n) =>
          client.sessions(n.http!).catch(() => ({ node: n.node, ezone: n.ezone, unreachable: true })),
        ),
    );
    if (flags.json) {
      this.log(JSON.stringify({ current, history, nodes: sessions }));
      return;
    }
    this.log(formatStatus(current, history));
    if (sessions.length) this.log('nodes:');
    for (const s of sessions) {
      if ('unreachable' in s) this.log(`  node ${s.node} (${s.ezone}): unreachable`);
      else
        this.log(
          `  node ${s.node} (${s.ezone}): ${s.sessions} sessions${s.misplaced ? `, ${s.misplaced} to move` : ''}, map v${s.mapVersion}`,
        );
    }
  }
}
