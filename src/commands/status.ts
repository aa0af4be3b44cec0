import { Args } from '@oclif/core';
import { ApiClient } from '../cli/api-client.js';
import { TacoCommand } from '../cli/base-command.js';
import { apiFlags } from '../cli/flags.js';

export default class Status extends TacoCommand {
  static override summary = 'Show the status and history of a message';
  static override examples = ['<%= config.bin %> status 120325459735724033 --app demo --secret S'];
  static override args = { id: Args.string({ description: 'message id', required: true }) };
  static override flags = { ...apiFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Status);
    const api = new ApiClient({
      url: flags.url,
      app: flags.app,
      secret: flags.secret,
      timeoutMs: flags.timeout,
    });
    const res = await api.call<unknown>('GET', `/v1/messages/${encodeURIComponent(args.id)}`);
    this.log(JSON.stringify(res));
  }
}
