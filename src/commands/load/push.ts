import { Flags } from '@oclif/core';
import { TacoCommand } from '../../cli/base-command.js';
import {
  durationFlag,
  fleetFlags,
  fleetFrom,
  runChecked,
  targetFlags,
  targetFrom,
} from '../../load/flags.js';
import { progress } from '../../load/progress.js';
import { formatPush, runPush } from '../../load/push.js';

export default class LoadPush extends TacoCommand {
  static override summary = 'Push at a fixed rate through the business API while signed-in clients ACK';
  static override description =
    'Signs --clients in (as `taco load connect`), then sends unicast pushes to random ones of them at --rate per ' +
    'second for --duration, open model (arrivals do not wait for answers), through the HTTP API with autocannon or ' +
    'the gRPC API from a pool of worker threads. Reports per second accepted / delivered / ACKed and the end-to-end ' +
    'latency (API request → push in the client) from merged HDR histograms.';
  static override examples = [
    '<%= config.bin %> load push --app demo --secret S --clients 1000 --rate 5000 --duration 30s',
    '<%= config.bin %> load push --app demo --secret S --api grpc --rate 2000 --duration 10s --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    ...targetFlags,
    ...fleetFlags,
    rate: Flags.integer({
      description: 'pushes per second offered (open model)',
      default: 1000,
      min: 1,
      max: 100_000,
    }),
    duration: durationFlag({
      description: 'how long to push at --rate',
      default: 10_000,
      minMs: 1_000,
      maxMs: 3_600_000,
    }),
    api: Flags.string({
      description: 'business API to push through',
      options: ['http', 'grpc'],
      default: 'http',
    }),
    connections: Flags.integer({
      description: 'HTTP connections autocannon keeps open (default: rate/20, at least 32)',
      min: 1,
      max: 10_000,
    }),
    threads: Flags.integer({
      description: 'worker threads pushing over gRPC (with --api grpc)',
      default: 2,
      min: 1,
      max: 16,
    }),
    kind: Flags.string({
      description: 'message kind pushed',
      options: ['notification', 'passthrough'],
      default: 'passthrough',
    }),
    warmup: durationFlag({
      description: 'push at --rate this long first, not counted in the figures',
      default: 1_000,
      minMs: 0,
      maxMs: 600_000,
    }),
    'server-stats': durationFlag({
      description:
        "read the server's ACK counter from its /metrics this often while pushing (0 = only before and after; " +
        'each read costs the server time in proportion to its open sockets)',
      default: 5_000,
      minMs: 0,
      maxMs: 600_000,
    }),
    drain: durationFlag({
      description: 'after the last push, wait at most this long for answers and deliveries',
      default: 5_000,
      minMs: 0,
      maxMs: 600_000,
    }),
  };

  async run() {
    const { flags } = await this.parse(LoadPush);
    const r = await runChecked(this, () =>
      runPush(
        {
          target: targetFrom(flags),
          fleet: fleetFrom(flags),
          api: flags.api as 'http' | 'grpc',
          ratePerSec: flags.rate,
          durationMs: flags.duration,
          connections: flags.connections ?? Math.max(32, Math.ceil(flags.rate / 20)),
          grpcThreads: flags.threads,
          kind: flags.kind as 'notification' | 'passthrough',
          warmupMs: flags.warmup,
          drainMs: flags.drain,
          serverStatsEveryMs: flags['server-stats'],
        },
        progress(!flags.quiet),
      ),
    );
    this.log(formatPush(r));
    return r;
  }
}
