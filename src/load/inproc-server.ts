/**
 * `taco serve` with a push source inside the same process, for the bench's
 * "pushes per second with ACK at saturation (dispatcher in process)": the
 * same startServer as `taco serve`, and a driver that calls the dispatcher's
 * `send` directly (no HTTP in the way), keeping `window` pushes unACKed, like
 * the bare-ws reference does with its own frames. ACKs are counted where the
 * gateway hands them to the dispatcher.
 *
 * Forked by src/load/bench.ts: argv[2] is the serve config as JSON; prints
 * {"event":"ready",…}; IPC {type:'saturate', app, devicePrefix, clients,
 *  window, durationMs, warmupMs} → {type:'result', acksPerSec, cpuUsPerAck, gcPauses, gcShare, heapUsedMiB}.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { PerformanceObserver } from 'node:perf_hooks';
import type { SendRequest } from '../core/send-request.js';
import { resolveServeConfig } from '../server/config-file.js';
import { startServer } from '../server/server.js';
import { monoMs } from './clock.js';

interface Saturate {
  type: 'saturate';
  app: string;
  devicePrefix: string;
  clients: number;
  window: number;
  durationMs: number;
  warmupMs: number;
  /** Write the window's sampled allocations (garbage included) here, as a .heapprofile. */
  allocProfile?: string | undefined;
}

/**
 * V8's sampling heap profiler over the window, keeping samples of objects the collector has
 * freed: what the process allocates per push, not what it retains. Returns the stop function.
 */
function sampleAllocations(file: string): () => void {
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.enable');
  session.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  return () =>
    session.post('HeapProfiler.stopSampling', (err, r) => {
      if (!err) writeFileSync(file, JSON.stringify(r.profile));
      session.disconnect();
    });
}

const config = resolveServeConfig(JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>);
const server = await startServer({ config });
const { node } = server;
const hooks = node.gateway.hooks!;
let onAck: () => void = () => {};
const origAck = hooks.onAck;
hooks.onAck = (s, id, status) => {
  onAck();
  origAck(s, id, status);
};

process.on('message', (m: Saturate) => {
  if (m.type !== 'saturate') return;
  let outstanding = 0;
  let counting = false;
  let counted = 0;
  let stopped = false;
  const send = () => {
    outstanding++;
    const req: SendRequest = {
      to: { devices: [`${m.devicePrefix}${Math.floor(Math.random() * m.clients)}`] },
      kind: 'passthrough',
      priority: 'normal',
      ttl: 60,
      data: { t: monoMs(), m: 1 },
    };
    node.dispatcher.send(m.app, req).catch(() => {
      outstanding--;
    });
  };
  onAck = () => {
    outstanding--;
    if (counting) counted++;
    if (!stopped) while (outstanding < m.window) send();
  };
  for (let i = 0; i < m.window; i++) send();
  setTimeout(() => {
    counting = true;
    const t0 = monoMs();
    const cpu0 = process.cpuUsage();
    // Main-thread GC pauses over the window: the collector's share is the first thing to read when
    // the CPU per push moves (the scavenger's helper threads count in cpuUsPerAck, not here).
    const gc = { count: 0, ms: 0 };
    const gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        gc.count++;
        gc.ms += e.duration;
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    const stopSampling = m.allocProfile ? sampleAllocations(m.allocProfile) : undefined;
    setTimeout(() => {
      counting = false;
      stopped = true;
      const secs = (monoMs() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      gcObserver.disconnect();
      stopSampling?.();
      process.send?.({
        type: 'result',
        acksPerSec: counted / secs,
        cpuUsPerAck: (cpu.user + cpu.system) / Math.max(1, counted),
        gcPauses: gc.count,
        gcShare: gc.ms / (secs * 1000),
        heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20,
      });
      onAck = () => {};
    }, m.durationMs);
  }, m.warmupMs);
});
process.on('disconnect', () => void server.stop().then(() => process.exit(0)));
process.on('SIGTERM', () => void server.stop().then(() => process.exit(0)));
process.stdout.write(`${JSON.stringify(server.ready)}\n`);
