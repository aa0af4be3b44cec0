/**
 * Flags shared by the `taco load` commands, built once. Target flags take the
 * same environment defaults as the other client commands (TACO_URL, TACO_APP,
 * TACO_SECRET; src/cli/flags.ts), plus TACO_WS_URL and TACO_GRPC.
 */
import { Flags } from '@oclif/core';
import { parseDurationMs } from '../cli/duration.js';
import { apiFlags } from '../cli/flags.js';
import { TacoError } from '../core/errors.js';
import { MAX_CLIENTS, MAX_PER_PROCESS } from './addresses.js';
import { defaultDevicePrefix, type FleetSettings, type TargetOptions } from './session.js';

/** A duration flag (`500ms`, `30s`, `5m`, `1h`) bounded to [minMs, maxMs], parsed to milliseconds. */
export const durationFlag = Flags.custom<number, { minMs: number; maxMs: number }>({
  parse: async (input, _ctx, opts) => {
    const ms = parseDurationMs(input, `--${opts.name}`);
    if (ms < opts.minMs || ms > opts.maxMs)
      throw new TacoError(
        'BAD_INPUT',
        `--${opts.name} ${input}: must be between ${opts.minMs} ms and ${opts.maxMs / 1000} s`,
      );
    return ms;
  },
});

export const targetFlags = {
  url: apiFlags.url,
  app: apiFlags.app,
  secret: apiFlags.secret,
  'ws-url': Flags.string({
    description: 'WebSocket endpoint of the running `taco serve` the clients connect to',
    env: 'TACO_WS_URL',
    default: 'ws://127.0.0.1:8081/v1/connect',
  }),
  grpc: Flags.string({
    description: 'gRPC API address (HOST:PORT) of the running `taco serve`, used with --api grpc',
    env: 'TACO_GRPC',
    default: '127.0.0.1:8082',
  }),
};

/** `--clients` with a command's own default. */
export function clientsFlag(defaultClients: number) {
  return Flags.integer({
    description: `signed-in client sessions to open (1..${MAX_CLIENTS}); more than --per-process are spread over several processes`,
    default: defaultClients,
    min: 1,
    max: MAX_CLIENTS,
  });
}

export const fleetFlags = {
  clients: clientsFlag(1000),
  'per-process': Flags.integer({
    description: `client sockets per load process at most (each process may hold 20,000 open files; max ${MAX_PER_PROCESS})`,
    default: 15_000,
    min: 1,
    max: MAX_PER_PROCESS,
  }),
  'per-address': Flags.integer({
    description:
      'clients per loopback source address (127.0.0.2, 127.0.0.3, …); ~1,000 keeps port binding fast',
    default: 1000,
    min: 1,
    max: 20_000,
  }),
  'connect-rate': Flags.integer({
    description: 'sign-ins started per second over all processes (0 = as fast as --max-connecting allows)',
    default: 0,
    min: 0,
    max: 100_000,
  }),
  'max-connecting': Flags.integer({
    description: 'connection attempts in progress per load process at most',
    default: 200,
    min: 1,
    max: 5_000,
  }),
  'connect-timeout': durationFlag({
    description: 'fail if not every client is signed in within this time',
    default: 300_000,
    minMs: 1_000,
    maxMs: 3_600_000,
  }),
  heartbeat: Flags.integer({
    description: "clients ping every this many seconds (default: the server's heartbeat from the welcome)",
    min: 1,
    max: 3600,
  }),
  client: Flags.string({
    description:
      'sdk: the real SDK (TacoClient) per session; light: a bare socket with the SDK’s reconnect policy, ' +
      'which costs the load tool far less (for sign-in rates and 100k sessions)',
    options: ['sdk', 'light'],
    default: 'sdk',
  }),
  'device-prefix': Flags.string({
    description: 'device ids are PREFIX0, PREFIX1, …; default: a prefix unique to this run',
  }),
  quiet: Flags.boolean({ description: 'no progress lines on stderr' }),
};

export interface TargetFlagValues {
  url: string;
  app: string;
  secret: string;
  'ws-url': string;
  grpc: string;
}

export function targetFrom(f: TargetFlagValues): TargetOptions {
  if (!/^https?:\/\//.test(f.url))
    throw new TacoError('BAD_INPUT', `--url ${f.url}: expected an http:// URL`);
  if (!/^wss?:\/\//.test(f['ws-url']))
    throw new TacoError('BAD_INPUT', `--ws-url ${f['ws-url']}: expected a ws:// URL`);
  if (!/^[^:]+:\d+$/.test(f.grpc)) throw new TacoError('BAD_INPUT', `--grpc ${f.grpc}: expected HOST:PORT`);
  // Clients bind 127.0.x.y source addresses, and load belongs on this machine only.
  for (const [name, host] of [
    ['--url', new URL(f.url).hostname],
    ['--ws-url', new URL(f['ws-url']).hostname],
    ['--grpc', f.grpc.split(':')[0]!],
  ] as const) {
    if (!isLoopback(host))
      throw new TacoError(
        'BAD_INPUT',
        `${name}: ${host} is not a loopback address; taco load only drives a server on 127.0.0.0/8`,
      );
  }
  return { httpUrl: f.url, wsUrl: f['ws-url'], grpcAddress: f.grpc, app: f.app, secret: f.secret };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export interface FleetFlagValues {
  clients: number;
  'per-process': number;
  'per-address': number;
  'connect-rate': number;
  'max-connecting': number;
  'connect-timeout': number;
  heartbeat?: number | undefined;
  client: string;
  'device-prefix'?: string | undefined;
}

export function fleetFrom(f: FleetFlagValues): FleetSettings {
  return {
    clients: f.clients,
    perProcess: f['per-process'],
    perAddress: f['per-address'],
    connectRatePerSec: f['connect-rate'],
    maxConnectingPerProcess: f['max-connecting'],
    connectTimeoutMs: f['connect-timeout'],
    heartbeatSec: f.heartbeat,
    light: f.client === 'light',
    devicePrefix: f['device-prefix'] ?? defaultDevicePrefix(),
  };
}

/**
 * Runs a load command's work; a target not reached in time (clients not signed in, a storm
 * not recovered: DEADLINE_EXCEEDED) is a failed check, exit 1, not an internal failure.
 */
export async function runChecked<T>(
  cmd: { logToStderr(m: string): void; exit(code: number): never },
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof TacoError && e.code === 'DEADLINE_EXCEEDED') {
      cmd.logToStderr(`taco: ${e.message}`);
      cmd.exit(1);
    }
    throw e;
  }
}
