/**
 * `taco sim --live-dashboard`: an ink view of the running simulation —
 * progress of each run, online sessions per ezone, push latency, backlog,
 * pending RPCs, gateway memory — refreshed twice a second of wall time.
 */
import { Box, render, Text } from 'ink';
import { useEffect, useState } from 'react';
import type { MetricsRecorder } from './metrics/recorder.js';

export interface DashboardState {
  runs: { label: string; fraction: number; done?: boolean; ok?: boolean }[];
  recorder: MetricsRecorder | undefined;
}

function bar(fraction: number, width = 30): string {
  const n = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `${'█'.repeat(n)}${'░'.repeat(width - n)}`;
}

function gaugeLast(r: MetricsRecorder, name: string, tags?: Record<string, string>): number | undefined {
  try {
    return r.gaugeStats(name, tags)?.last ?? undefined;
  } catch {
    return undefined;
  }
}

function Live({ state }: { state: DashboardState }) {
  const [, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((x) => x + 1), 500);
    return () => clearInterval(t);
  }, []);
  const r = state.recorder;
  const ezones = r ? r.tagValues('sessions.online', 'ezone') : [];
  const p99 = r?.histogram('push.latency')?.percentile(99);
  return (
    <Box flexDirection="column">
      {state.runs.map((run) => (
        <Text key={run.label}>
          {run.done ? (run.ok ? '✔' : '✖') : '…'} {run.label.padEnd(40)} {bar(run.fraction)}{' '}
          {Math.round(run.fraction * 100)}%
        </Text>
      ))}
      {r && (
        <Box flexDirection="column" marginTop={1}>
          <Text>virtual time {Math.round(r.elapsedMs / 1000)} s</Text>
          {ezones.map((ez) => (
            <Text key={ez}>
              online {ez}: {gaugeLast(r, 'sessions.online', { ezone: ez }) ?? 0}
            </Text>
          ))}
          <Text>push p99 latency: {p99 === undefined ? '—' : `${Math.round(p99)} ms`}</Text>
          <Text>queue backlog: {gaugeLast(r, 'queue.backlog') ?? 0}</Text>
          <Text>pending RPCs: {gaugeLast(r, 'rpc.pending') ?? 0}</Text>
          <Text>gateway memory (max): {Math.round((gaugeLast(r, 'gateway.memory') ?? 0) / 1048576)} MiB</Text>
        </Box>
      )}
    </Box>
  );
}

export function startDashboard(state: DashboardState): { stop(): void } {
  const app = render(<Live state={state} />, { stdout: process.stderr });
  return { stop: () => app.unmount() };
}
