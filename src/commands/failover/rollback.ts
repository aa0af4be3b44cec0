import { Flags } from '@oclif/core';
import { TacoCommand } from '../../cli/base-command.js';
import { runDrillCommand } from '../../failover/command.js';
import { drillFlags } from '../../failover/flags.js';

export default class FailoverRollback extends TacoCommand {
  static override summary =
    'Undo the last shard map change (or restore a version), then watch against the SLOs';
  static override description =
    'Commits the content of the version before the current one (or of --to-version) as a new version, so the ' +
    'history keeps both. Exit 0 when every SLO held, 1 when one failed, 2 for bad input.';
  static override examples = [
    '<%= config.bin %> failover rollback',
    '<%= config.bin %> failover rollback --to-version 1 --dry-run',
  ];
  static override flags = {
    'to-version': Flags.integer({
      description: 'version whose content to restore (default: the one before the current)',
      min: 1,
    }),
    ...drillFlags,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(FailoverRollback);
    const code = await runDrillCommand(
      this,
      flags,
      { kind: 'rollback', toVersion: flags['to-version'] },
      `taco failover rollback${flags['to-version'] ? ` --to-version ${flags['to-version']}` : ''}`,
    );
    if (code) this.exit(code);
  }
}
