/** Flags shared by the `taco failover` commands. */
import { hostname, userInfo } from 'node:os';
import { Flags } from '@oclif/core';
import { parseDurationMs } from '../cli/duration.js';

const duration = Flags.custom<number>({
  parse: async (input, _ctx, opts) => parseDurationMs(input, `--${opts.name}`),
});

function operator(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `taco@${hostname()}`;
  }
}

export const connectionFlags = {
  url: Flags.string({
    description:
      'HTTP URL of a node (repeatable; the first that answers applies the change, all are watched)',
    multiple: true,
    env: 'TACO_ADMIN_URL',
    default: ['http://127.0.0.1:8080'],
  }),
  token: Flags.string({
    description: 'admin token of the nodes (taco serve --admin-token)',
    env: 'TACO_ADMIN_TOKEN',
  }),
  timeout: Flags.integer({ description: 'deadline of each request, in ms', default: 5_000, min: 1 }),
};

export const drillFlags = {
  ...connectionFlags,
  'dry-run': Flags.boolean({
    description: 'show what would move (shards, regions, sessions to drain) and change nothing',
  }),
  slo: Flags.string({
    description:
      'a drill SLO, in the scenarios’ grammar (repeatable), e.g. "min(sessions.misplaced) == 0 within 30s after change"',
    multiple: true,
  }),
  'slo-file': Flags.string({ description: 'YAML file with `slo:` (a list, the scenarios’ grammar)' }),
  watch: duration({
    description: 'how long to watch the nodes after the change (e.g. 60s)',
    default: 60_000,
  }),
  interval: duration({ description: 'how often to scrape the nodes’ /metrics', default: 1_000 }),
  by: Flags.string({ description: 'who runs the drill (recorded with the change)', default: operator() }),
  note: Flags.string({ description: 'recorded with the change (a ticket, the drill’s name)' }),
  json: Flags.boolean({ description: 'print the result as one JSON object on stdout' }),
  dashboard: Flags.boolean({
    description: 'live dashboard on stderr (default: when stderr is a terminal)',
    allowNo: true,
  }),
};

/** Node URLs from repeated `--url` flags or a comma-separated TACO_ADMIN_URL. */
export function urlsOf(values: string[]): string[] {
  return values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim().replace(/\/$/, ''))
    .filter(Boolean);
}
