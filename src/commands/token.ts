import { Flags } from '@oclif/core';
import { TacoCommand } from '../cli/base-command.js';
import { parseDurationMs } from '../cli/duration.js';
import { signToken, type TokenClaims } from '../core/token.js';

export default class Token extends TacoCommand {
  static override summary = 'Print a device token (JWT HS256 signed with the app secret)';
  static override examples = [
    '<%= config.bin %> token --app shop --secret s3cr3t-s3cr3t --device phone-1 --user alice',
  ];

  static override flags = {
    app: Flags.string({ description: 'app id (claim "app")', required: true }),
    secret: Flags.string({ description: 'app secret used to sign', required: true, env: 'TACO_SECRET' }),
    device: Flags.string({ description: 'device id (claim "dev")', required: true }),
    user: Flags.string({ description: 'user id (claim "sub")' }),
    loc: Flags.string({ description: 'location key (claim "loc"), decides the shard' }),
    ttl: Flags.string({ description: 'lifetime, e.g. 30m, 24h, 7d', default: '24h' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Token);
    const ttlMs = parseDurationMs(flags.ttl, '--ttl');
    const claims: TokenClaims = {
      app: flags.app,
      dev: flags.device,
      exp: Math.floor((Date.now() + ttlMs) / 1000),
    };
    if (flags.user) claims.sub = flags.user;
    if (flags.loc) claims.loc = flags.loc;
    this.log(signToken(claims, flags.secret));
  }
}
