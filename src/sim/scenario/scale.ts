/**
 * Shrinks (or grows) a scenario's world for fast runs (`--scale 0.01` in
 * tests) while keeping what each part of it experiences the same as at full
 * size:
 *
 * - clients.count and traffic rates × factor; gateways per ezone × factor,
 *   rounded, at least 1.
 * - Shared capacities × factor: the broker's disk-mode threshold and the
 *   autoscaler's backlog per consumer.
 * - Per-gateway capacities × c, per-operation costs ÷ c, where c = ideal
 *   gateways (Σ gateways × factor) / gateways after rounding. Rounding up to
 *   one gateway gives each gateway less than its share of the load; c brings
 *   its accept rate, queue consumers (they live in each node's dispatcher),
 *   RPC streams, admission and drain rates down and its CPU and memory per
 *   session up by the same ratio, so utilisation and memory per gateway match
 *   the full-size run. c = 1 when the rounding is exact. With ezones of
 *   different sizes c is one average, an approximation.
 * - An ezone with a gateway-crash fault keeps at least two gateways (if it had
 *   two); a crash fault whose gateway no longer exists hits the last one.
 *
 * Thresholds in SLOs are not touched: latencies and ratios carry over, absolute
 * counts and rates do not.
 */
import { TacoError } from '../../core/errors.js';
import type { Scenario } from './schema.js';

const atLeastOne = (x: number) => Math.max(1, Math.round(x));

export function scale(s: Scenario, factor: number): Scenario {
  if (!(Number.isFinite(factor) && factor > 0)) {
    throw new TacoError('BAD_INPUT', `scale must be a number above 0, got ${factor}`, { field: 'scale' });
  }
  if (factor === 1) return s;
  // An ezone whose gateway crashes keeps two when it had two or more: scaled down to one, the crash
  // would take the whole ezone away, a different incident from losing one gateway of several.
  const crashed = new Set(s.faults.filter((f) => f.kind === 'gateway-crash').map((f) => f.ezone));
  const ezones = Object.fromEntries(
    Object.entries(s.topology.ezones).map(([name, e]) => [
      name,
      {
        gateways: Math.max(atLeastOne(e.gateways * factor), crashed.has(name) ? Math.min(2, e.gateways) : 1),
      },
    ]),
  );
  const ideal = Object.values(s.topology.ezones).reduce((n, e) => n + e.gateways * factor, 0);
  const actual = Object.values(ezones).reduce((n, e) => n + e.gateways, 0);
  const c = ideal / actual;
  const { engines: en, config: cf } = s;
  return {
    ...s,
    scale: s.scale * factor,
    topology: { ...s.topology, ezones },
    clients: { ...s.clients, count: atLeastOne(s.clients.count * factor) },
    traffic: {
      ...s.traffic,
      pushPerSec: s.traffic.pushPerSec * factor,
      upstreamPerSec: s.traffic.upstreamPerSec * factor,
    },
    faults: s.faults.map((f) =>
      f.kind === 'gateway-crash' ? { ...f, gateway: Math.min(f.gateway, ezones[f.ezone]!.gateways - 1) } : f,
    ),
    engines: {
      ...en,
      queue: {
        ...en.queue,
        // Consumers live in dispatchers, one per gateway node: a per-gateway capacity.
        consumerRatePerSec: en.queue.consumerRatePerSec * c,
        diskModeThreshold: atLeastOne(en.queue.diskModeThreshold * factor),
      },
      rpc: { ...en.rpc, maxConcurrentStreams: atLeastOne(en.rpc.maxConcurrentStreams * c) },
      gateway: {
        ...en.gateway,
        // Applied to the costs a scenario sets and to the calibration's alike (src/sim/run.ts).
        costScale: en.gateway.costScale / c,
        acceptPerSec: en.gateway.acceptPerSec * c,
      },
    },
    config: {
      ...cf,
      gateway: {
        ...cf.gateway,
        signInsPerSec: cf.gateway.signInsPerSec * c,
        signInBurst: atLeastOne(cf.gateway.signInBurst * c),
        drainPerSec: cf.gateway.drainPerSec * c,
      },
      dispatch: {
        ...cf.dispatch,
        maxPendingRpcPerPeer: atLeastOne(cf.dispatch.maxPendingRpcPerPeer * c),
        consumers: {
          ...cf.dispatch.consumers,
          backlogPerConsumer: atLeastOne(cf.dispatch.consumers.backlogPerConsumer * factor),
        },
      },
    },
  };
}
