// Development probe: runs the world directly with a counting recorder.
import { loadCalibration } from '../../dist/sim/calibration.js';
import { World, type SimRecorder } from '../../dist/sim/world.js';
const counts = new Map<string, number>();
let n = 0;
const rec: SimRecorder = {
  setTime() {},
  count(name, k = 1) { counts.set(name, (counts.get(name) ?? 0) + k); },
  observe(name, v) { counts.set(name + '.obs', (counts.get(name + '.obs') ?? 0) + 1); if (name==='push.latency') n = Math.max(n, v); },
  gauge(name, v, tags) { counts.set('g:' + name + (tags ? JSON.stringify(tags) : ''), v); },
  event(name) { counts.set('e:' + name, (counts.get('e:' + name) ?? 0) + 1); },
};
const clients = Number(process.argv[2] ?? 16000);
const scale = clients / 1_600_000;
const gw = Math.max(1, Math.round(8 * Math.min(1, scale * 8)));
const t0 = Date.now();
const w = new World({
  seed: 42, durationMs: Number(process.argv[3] ?? 600_000),
  ezones: [{ name: 'sh', gateways: gw }, { name: 'bj', gateways: gw }],
  clients: { count: clients, platforms: { android: 0.6, ios: 0.35, h5: 0.05 }, heartbeatSec: 60, reconnect: { baseMs: 1000, maxMs: 60000, jitter: 'full' }, rampMs: 60000, dnsTtlMs: 60000 },
  traffic: { pushPerSec: 6000 * scale, upstreamPerSec: 200 * scale, ttlSec: 600 },
  faults: [], core: {}, engines: { queue: { perConsumerPerSec: 500, diskModeThreshold: 1e6, diskModeSlowdown: 10 }, rpc: { maxConcurrentStreams: 100 } },
  calibration: loadCalibration(), stormAttemptsPerSec: clients / 50,
}, rec);
const out = await w.run();
const wall = (Date.now() - t0) / 1000;
console.log(JSON.stringify(out), 'wall', wall, 's', 'ev/s', Math.round(out.events / wall), 'rss', Math.round(process.memoryUsage().rss / 1e6), 'MB maxlat', n);
console.log(Object.fromEntries(counts));
