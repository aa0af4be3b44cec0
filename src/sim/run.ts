/**
 * Runs scenarios: the base run and each variant, each on a fresh World with
 * its own recorder, then evaluates the SLOs and builds the results the
 * reports print. The same seed and commit give the same results.
 */
import type { Platform } from '../core/protocol.js';
import { type Calibration, loadCalibration } from './calibration.js';
import { defaultRegistry } from './metrics/catalogue.js';
import { MetricsRecorder, type RecordedEvent } from './metrics/recorder.js';
import { buildRunResult } from './report/collect.js';
import type { SimRunResult } from './report/types.js';
import { applyVariant, loadScenario, type Scenario, scale as scaleScenario } from './scenario/index.js';
import { evaluateSlos, type FaultTime } from './slo/evaluate.js';
import { checkScenarioSlos } from './slo/scenario-check.js';
import { type FaultSpec, SIM_EPOCH_MS, World, type WorldSpec } from './world.js';
import { WORLD_METRICS } from './world-metrics.js';

export interface RunOptions {
  seed?: number | undefined;
  scale?: number | undefined;
  /** Only the base run, no variants. */
  baseOnly?: boolean;
  calibration?: Calibration;
  onProgress?: (label: string, fraction: number) => void;
  onEvent?: (label: string, e: RecordedEvent) => void;
  /** Called with each world before it runs (benchmarks read its event counter). */
  onWorld?: (world: World) => void;
  /** Called when a run starts (for dashboards). */
  onRunStart?: (label: string, recorder: MetricsRecorder, scenario: Scenario) => void;
}

export function registry() {
  return defaultRegistry().registerAll(WORLD_METRICS);
}

export function toWorldSpec(s: Scenario, cal: Calibration): WorldSpec {
  const ezones = Object.entries(s.topology.ezones).map(([name, e]) => ({ name, gateways: e.gateways }));
  const faults: FaultSpec[] = s.faults.map((f) => {
    const { kind, atMs, forMs, name: _name, ...params } = f as typeof f & { forMs?: number };
    return { kind, atMs, forMs, params };
  });
  const g = s.engines.gateway;
  return {
    seed: s.seed,
    durationMs: s.durationMs,
    ezones,
    clients: {
      count: s.clients.count,
      platforms: s.clients.platforms as Record<Platform, number>,
      heartbeatSec: Math.max(1, Math.round(s.clients.heartbeatMs / 1000)),
      reconnect: s.clients.reconnect,
      rampMs: s.clients.rampMs,
      dnsTtlMs: s.clients.dnsTtlMs,
    },
    traffic: {
      pushPerSec: s.traffic.pushPerSec,
      upstreamPerSec: s.traffic.upstreamPerSec,
      ttlSec: Math.round(s.traffic.ttlMs / 1000),
    },
    faults,
    core: { ...s.config, shards: s.topology.shards },
    engines: {
      queue: {
        perConsumerPerSec: s.engines.queue.consumerRatePerSec,
        diskModeThreshold: s.engines.queue.diskModeThreshold,
        diskModeSlowdown: s.engines.queue.diskModeSlowdown,
      },
      rpc: { maxConcurrentStreams: s.engines.rpc.maxConcurrentStreams },
    },
    // The calibration file's measured costs, unless the scenario sets its own; scaled runs scale both.
    calibration: {
      ...cal,
      gateway: {
        ...cal.gateway,
        sessionBytes: Math.round((g.sessionBytes ?? cal.gateway.sessionBytes) * g.costScale),
        signInCpuUs: (g.signInCpuUs ?? cal.gateway.signInCpuUs) * g.costScale,
        frameCpuUs: (g.frameCpuUs ?? cal.gateway.frameCpuUs) * g.costScale,
        pushCpuUs: cal.gateway.pushCpuUs * g.costScale,
        closeCpuUs: cal.gateway.closeCpuUs * g.costScale,
      },
      // The listen queue is a per-gateway capacity: a scaled gateway's shrinks with its share of the load.
      network: {
        ...cal.network,
        listenBacklog: Math.max(1, Math.round(cal.network.listenBacklog / g.costScale)),
      },
      rpc: { ...cal.rpc, latencyMs: s.engines.rpc.latencyMs },
    },
    stormAttemptsPerSec: Math.max(50, s.clients.count / 50),
  };
}

export async function runScenario(s: Scenario, opts: RunOptions = {}): Promise<SimRunResult> {
  const cal = opts.calibration ?? loadCalibration();
  const label = s.variant ? `${s.name}/${s.variant}` : s.name;
  const recorder = new MetricsRecorder({ registry: registry(), startMs: SIM_EPOCH_MS, bucketMs: 10_000 });
  if (opts.onEvent) recorder.onEvent((e) => opts.onEvent?.(label, e));
  opts.onRunStart?.(label, recorder, s);
  const spec = toWorldSpec(s, cal);
  const world = new World(spec, recorder);
  opts.onWorld?.(world);
  await world.run((f) => opts.onProgress?.(label, f));
  const faults: (FaultTime & { forMs?: number })[] = s.faults.map((f) => ({
    kind: f.kind,
    atMs: f.atMs,
    name: f.name,
    forMs: (f as { forMs?: number }).forMs,
  }));
  const slos = evaluateSlos(s.slo, recorder, faults);
  return buildRunResult({ scenario: s, recorder, slos, faults, seed: s.seed });
}

/** Loads a scenario file, checks its SLOs against the metric registry, and runs it and its variants. */
export async function runScenarioFile(file: string, opts: RunOptions = {}): Promise<SimRunResult[]> {
  let base = loadScenario(file);
  if (opts.seed !== undefined) base = { ...base, seed: opts.seed };
  checkScenarioSlos(base, registry());
  const variants = opts.baseOnly ? [] : Object.keys(base.variants);
  const scenarios = [base, ...variants.map((v) => applyVariant(base, v))].map((s) => {
    const seeded = opts.seed !== undefined ? { ...s, seed: opts.seed } : s;
    return opts.scale !== undefined && opts.scale !== 1 ? scaleScenario(seeded, opts.scale) : seeded;
  });
  const results: SimRunResult[] = [];
  for (const s of scenarios) results.push(await runScenario(s, opts));
  return results;
}
