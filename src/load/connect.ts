/** `taco load connect`: sign N clients in, hold them with heartbeats for a while, report. */
import { monoMs, sleep } from './clock.js';
import { fmtBytes, fmtInt, type Progress, table } from './progress.js';
import {
  type ConnectPhase,
  connectFleet,
  type FleetSettings,
  serverFigures,
  type TargetOptions,
} from './session.js';

export interface ConnectOptions {
  target: TargetOptions;
  fleet: FleetSettings;
  holdMs: number;
}

export interface ConnectResult {
  kind: 'connect';
  connect: ConnectPhase;
  hold: { seconds: number; minOpen: number; maxOpen: number; closes: number };
  server: { nodes: number; rssBytes: number; bytesPerSession: number | null; connections: number } | null;
  clientProcesses: number;
  clientRssBytes: number;
}

export async function runConnect(o: ConnectOptions, p: Progress): Promise<ConnectResult> {
  const { fleet, phase } = await connectFleet(o.target, o.fleet, p);
  try {
    const start = monoMs();
    const closesBefore = fleet.snapshot().closes;
    let minOpen = Number.POSITIVE_INFINITY;
    let maxOpen = 0;
    while (monoMs() - start < o.holdMs) {
      await sleep(Math.min(1000, Math.max(0, o.holdMs - (monoMs() - start))));
      fleet.check();
      const s = fleet.snapshot();
      minOpen = Math.min(minOpen, s.open);
      maxOpen = Math.max(maxOpen, s.open);
      p.line(
        `holding: ${fmtInt(s.open)}/${fmtInt(s.clients)} open, ${fmtInt(s.closes - closesBefore)} dropped, ` +
          `${((monoMs() - start) / 1000).toFixed(0)}/${(o.holdMs / 1000).toFixed(0)} s`,
      );
    }
    p.done();
    const s = fleet.snapshot();
    if (!Number.isFinite(minOpen)) minOpen = maxOpen = s.open;
    const after = await serverFigures(o.target.httpUrl);
    const before = phase.serverBefore;
    return {
      kind: 'connect',
      connect: phase,
      hold: { seconds: o.holdMs / 1000, minOpen, maxOpen, closes: s.closes - closesBefore },
      server: after
        ? {
            nodes: after.nodes,
            rssBytes: after.rssBytes,
            bytesPerSession:
              before && before.nodes === after.nodes ? (after.rssBytes - before.rssBytes) / s.open : null,
            connections: after.connections,
          }
        : null,
      clientProcesses: fleet.processes,
      clientRssBytes: s.clientRssBytes,
    };
  } finally {
    await fleet.close();
  }
}

export function formatConnect(r: ConnectResult): string {
  const c = r.connect;
  return table('taco load connect', [
    ['clients', `${fmtInt(c.clients)} from ${r.clientProcesses} process(es)`],
    ['signed in', `${fmtInt(c.signedIn)} in ${c.seconds.toFixed(2)} s (${fmtInt(c.signInsPerSec)}/s)`],
    [
      'attempts',
      `${fmtInt(c.attempts)} (${fmtInt(c.rejected)} turned away by admission control, ${fmtInt(c.errors)} other errors)`,
    ],
    [
      'held',
      `${r.hold.seconds} s, open ${fmtInt(r.hold.minOpen)}–${fmtInt(r.hold.maxOpen)}, ${fmtInt(r.hold.closes)} dropped`,
    ],
    [
      'server',
      r.server
        ? `${r.server.nodes} node(s), RSS ${fmtBytes(r.server.rssBytes)}` +
          (r.server.bytesPerSession !== null ? `, ${fmtBytes(r.server.bytesPerSession)} per session` : '')
        : 'no /metrics',
    ],
    ['client RSS', fmtBytes(r.clientRssBytes)],
  ]);
}
