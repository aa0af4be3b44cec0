/**
 * `taco failover` live view (ink), on stderr while the drill is watched:
 * sessions per ezone (and those still to move), push rate, success and p99
 * latency, backlog, the map version each ezone uses, time left.
 */
import { Box, render, Text } from 'ink';
import { useEffect, useState } from 'react';
import type { LiveSnapshot } from './live.js';

export interface DrillDashboardState {
  title: string;
  snapshot: LiveSnapshot | undefined;
  remainingMs: number;
  slos: string[];
}

function Live({ state }: { state: DrillDashboardState }) {
  const [, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((x) => x + 1), 250);
    return () => clearInterval(t);
  }, []);
  const s = state.snapshot;
  return (
    <Box flexDirection="column">
      <Text bold>{state.title}</Text>
      {!s && <Text>waiting for the first scrape…</Text>}
      {s && (
        <Box flexDirection="column">
          <Text>
            t+{Math.round(s.elapsedMs / 1000)}s, {Math.ceil(state.remainingMs / 1000)}s left
            {s.converged ? ' · map converged' : ''}
            {s.drained ? ' · drain complete' : ''}
          </Text>
          {s.ezones.map((e) => (
            <Text key={e.ezone}>
              {e.ezone.padEnd(6)} sessions {String(e.sessions).padStart(7)}
              {e.misplaced ? ` (${e.misplaced} to move)` : ''} · sign-ins {e.signinPerSec.toFixed(0)}/s ·
              backlog {e.backlog} · map v{e.mapVersions.length ? Math.min(...e.mapVersions) : '?'} · nodes{' '}
              {e.reachable}/{e.nodes}
            </Text>
          ))}
          <Text>
            push {s.acceptedPerSec.toFixed(1)}/s in, {s.deliveredPerSec.toFixed(1)}/s delivered · success{' '}
            {s.success === null ? '—' : `${(s.success * 100).toFixed(2)}%`} · p99{' '}
            {s.p99Ms === null ? '—' : `${Math.round(s.p99Ms)} ms`}
          </Text>
          {s.unreachable.length > 0 && <Text color="red">unreachable: {s.unreachable.join(', ')}</Text>}
        </Box>
      )}
      <Text dimColor>SLOs: {state.slos.join(' · ')}</Text>
    </Box>
  );
}

export function startDrillDashboard(state: DrillDashboardState): { stop(): void } {
  const app = render(<Live state={state} />, { stdout: process.stderr });
  return { stop: () => app.unmount() };
}
