import { Flags } from '@oclif/core';
import { ApiClient } from '../cli/api-client.js';
import { TacoCommand } from '../cli/base-command.js';
import { apiFlags } from '../cli/flags.js';
import { TacoError } from '../core/errors.js';
import { parseSendRequest } from '../core/send-request.js';

export default class Push extends TacoCommand {
  static override summary = 'Send a push through the business API of a running node';
  static override examples = [
    '<%= config.bin %> push --app demo --secret S --device phone-1 --title Hi --body "Hello there"',
    '<%= config.bin %> push --app demo --secret S --user alice --kind passthrough --data \'{"k":1}\'',
  ];

  static override flags = {
    ...apiFlags,
    device: Flags.string({
      description: 'target device (repeatable)',
      multiple: true,
      exclusive: ['user', 'all'],
    }),
    user: Flags.string({
      description: 'target user: all their devices (repeatable)',
      multiple: true,
      exclusive: ['device', 'all'],
    }),
    all: Flags.boolean({ description: 'every device of the app', exclusive: ['device', 'user'] }),
    kind: Flags.string({
      description: 'message kind',
      options: ['notification', 'passthrough'],
      default: 'notification',
    }),
    title: Flags.string({ description: 'notification title' }),
    body: Flags.string({ description: 'notification body' }),
    data: Flags.string({ description: 'JSON object delivered to the app' }),
    priority: Flags.string({
      description: 'priority',
      options: ['high', 'normal', 'low'],
      default: 'normal',
    }),
    ttl: Flags.integer({ description: 'time to live in seconds', min: 1 }),
    'idempotency-key': Flags.string({
      description: 'same key, same ids: a retried call sends nothing twice',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Push);
    const to = flags.all
      ? { all: true }
      : flags.user
        ? { users: flags.user }
        : flags.device
          ? { devices: flags.device }
          : undefined;
    if (!to) throw new TacoError('BAD_INPUT', 'name a target: --device, --user or --all');
    let data: unknown;
    if (flags.data !== undefined) {
      try {
        data = JSON.parse(flags.data);
      } catch {
        throw new TacoError('BAD_INPUT', '--data: not valid JSON');
      }
    }
    const body = parseSendRequest({
      to,
      kind: flags.kind,
      title: flags.title,
      body: flags.body,
      data,
      priority: flags.priority,
      ttl: flags.ttl,
      idempotencyKey: flags['idempotency-key'],
    });
    const api = new ApiClient({
      url: flags.url,
      app: flags.app,
      secret: flags.secret,
      timeoutMs: flags.timeout,
    });
    const res = await api.call<{ ids: string[] }>('POST', '/v1/push', body);
    this.log(JSON.stringify(res));
  }
}
