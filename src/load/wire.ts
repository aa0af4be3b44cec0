/** Messages between the load coordinator and its client processes (IPC). */
import type { WireHistogram } from './hist.js';

export interface ClientProcessInit {
  wsUrl: string;
  app: string;
  secret: string;
  /** Client indexes this process holds: [from, to). */
  from: number;
  to: number;
  devicePrefix: string;
  perAddress: number;
  /** Sign-ins this process starts per second (0 = as fast as `maxConnecting` allows). */
  connectRatePerSec: number;
  /** Connection attempts in progress at most (sockets opening, hello sent, no welcome yet). */
  maxConnecting: number;
  /** LightClient instead of the SDK's TacoClient. */
  light: boolean;
  /** Ping period override in seconds; undefined = the server's heartbeat. */
  heartbeatSec?: number | undefined;
  /** Stats period in ms. */
  reportMs: number;
}

export type ToClientProcess =
  | { type: 'init'; init: ClientProcessInit }
  | { type: 'connect' }
  | { type: 'storm'; fraction: number }
  | { type: 'pings'; perClient: number; spreadMs: number }
  | { type: 'rtt'; samples: number; spreadMs: number }
  | { type: 'reset-latency' }
  | { type: 'stop' };

export interface ClientProcessStats {
  clients: number;
  open: number;
  connecting: number;
  /** Welcomes received (sign-ins that succeeded), cumulative. */
  signIns: number;
  /** Connection attempts started, cumulative. */
  attempts: number;
  /** Sign-ins turned away by the server's admission control (TACO_ERR_OVERLOADED), cumulative. */
  rejected: number;
  /** Other error frames, cumulative. */
  errors: number;
  /** Connections that ended, cumulative. */
  closes: number;
  /** Pushes received (first copies), cumulative. */
  pushes: number;
  /** Measured pushes (`data.m` = 1, not warm-up), cumulative. */
  runPushes: number;
  /** Extra pings sent on request, cumulative. */
  pingsSent: number;
  /** monoMs when every client of this process was first open together; 0 = not yet. */
  allOpenAt: number;
  /** Storm: monoMs of the drop, and when every client was back (0 = not yet). */
  stormAt: number;
  stormBackAt: number;
  rssBytes: number;
  /** Deltas since the last report. */
  e2e: WireHistogram;
  accept: WireHistogram;
  recovery: WireHistogram;
  /** ping → pong round trips of `rtt` probes. */
  rtt: WireHistogram;
}

export type FromClientProcess =
  | { type: 'ready' }
  | { type: 'stats'; stats: ClientProcessStats }
  | { type: 'fatal'; message: string };
