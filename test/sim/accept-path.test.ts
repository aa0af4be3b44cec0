/**
 * The simulated accept path (src/sim/clients.ts): a full listen queue drops
 * SYNs, which TCP sends again 1 s, 3 s, 7 s … later; a connection the node
 * reaches after its client gave up costs a teardown, not a sign-in; and the
 * scenario runner takes the gateway's costs from the calibration file unless
 * the scenario sets them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Calibration, loadCalibration } from '../../src/sim/calibration.js';
import type { LoadRig } from '../../src/sim/clients.js';
import { toWorldSpec } from '../../src/sim/run.js';
import { parseScenario, scale } from '../../src/sim/scenario/index.js';
import { SIM_EPOCH_MS, type SimRecorder, World, type WorldSpec } from '../../src/sim/world.js';

function spec(cal: Calibration, count: number, durationMs = 90_000): WorldSpec {
  return {
    seed: 3,
    durationMs,
    ezones: [{ name: 'local', gateways: 1 }],
    clients: {
      count,
      platforms: { android: 1, ios: 0, h5: 0 },
      heartbeatSec: 60,
      reconnect: { baseMs: 1000, maxMs: 60_000, jitter: 'full' },
      rampMs: 20_000,
      dnsTtlMs: 60_000,
    },
    traffic: { pushPerSec: 0, upstreamPerSec: 0, ttlSec: 60 },
    faults: [],
    core: { gateway: { signInsPerSec: 0 } },
    engines: {
      queue: { perConsumerPerSec: 1e6, diskModeThreshold: 1e9, diskModeSlowdown: 1 },
      rpc: { maxConcurrentStreams: 100 },
    },
    calibration: cal,
    stormAttemptsPerSec: 1e9,
  };
}

/** A drop of every session at 30 s; the largest recovery after it, and the sign-ins turned away. */
async function storm(
  cal: Calibration,
  count: number,
  o: { rig?: LoadRig; signInsPerSec?: number; signInBurst?: number } = {},
) {
  let maxRecovery = 0;
  let shed = 0;
  let attemptAt = 0;
  let lastSignInMs = 0;
  const rec: SimRecorder = {
    setTime() {},
    count(name, n = 1) {
      if (name === 'signin.shed') shed += n;
      if (name === 'reconnect.attempts') attemptAt = w.clock.now();
    },
    observe(name, value) {
      if (name === 'reconnect.recovery') {
        maxRecovery = Math.max(maxRecovery, value);
        lastSignInMs = w.clock.now() - attemptAt;
      }
    },
    gauge() {},
    event() {},
  };
  const s = spec(cal, count);
  s.core = { gateway: { signInsPerSec: o.signInsPerSec ?? 0, signInBurst: o.signInBurst ?? 3000 } };
  const w = new World(s, rec);
  if (o.rig) w.clients.setLoadRig(o.rig);
  let dropped0 = 0;
  w.clock.setTimeout(() => {
    dropped0 = w.clients.synDropped;
    w.clients.resetNode(0);
  }, 30_000);
  await w.run();
  return { w, maxRecovery, shed, lastSignInMs, synDropped: w.clients.synDropped - dropped0 };
}

function calibration(
  over: {
    backlog?: number;
    signInCpuUs?: number;
    closeCpuUs?: number;
    helloShare?: number;
    rttMs?: number;
    jitterMs?: number;
  } = {},
): Calibration {
  const c = loadCalibration();
  return {
    ...c,
    gateway: {
      ...c.gateway,
      cores: 1,
      signInCpuUs: over.signInCpuUs ?? 500,
      closeCpuUs: over.closeCpuUs ?? 50,
      // The listen queue's tests charge the sign-in whole at the accept; the split has its own.
      helloShare: over.helloShare ?? 0,
    },
    network: {
      ...c.network,
      rttMs: over.rttMs ?? 1,
      jitterMs: over.jitterMs ?? 1,
      connectTimeoutMs: 15_000,
      listenBacklog: over.backlog ?? 4096,
      synRetransmitMs: 1000,
    },
  };
}

describe('accept path', () => {
  test('a listen queue that holds the storm drops nothing; a small one drops SYNs that come back later', async () => {
    const big = await storm(calibration(), 3000);
    assert.equal(big.synDropped, 0);
    const small = await storm(calibration({ backlog: 50 }), 3000);
    assert.ok(small.synDropped > 100, `${small.synDropped} SYNs dropped`);
    assert.equal(small.w.clients.online, 3000, 'everyone is back');
    // Dropped SYNs wait for TCP's retransmission timer (1 s, then 3 s …) instead of the node's CPU.
    assert.ok(small.maxRecovery > big.maxRecovery + 1000, `${small.maxRecovery} vs ${big.maxRecovery} ms`);
  });

  test('a connection reached after its client gave up costs the node a teardown, not a sign-in', async () => {
    // 4,000 clients × 10 ms of sign-in is 40 s of work: far past the 15 s connect timeout.
    const cheap = await storm(calibration({ signInCpuUs: 10_000, closeCpuUs: 10, backlog: 1e6 }), 4000);
    assert.ok(cheap.w.clients.abandonedInQueue > 0);
    assert.equal(cheap.w.clients.online, 4000);
    // Charged a whole sign-in each, the same abandoned connections keep the node from ever catching up.
    const costly = await storm(calibration({ signInCpuUs: 10_000, closeCpuUs: 10_000, backlog: 1e6 }), 4000);
    assert.ok(costly.w.clients.online < 4000, `${costly.w.clients.online} back`);
  });

  test('same seed, same storm', async () => {
    const a = await storm(calibration({ backlog: 50 }), 1000);
    const b = await storm(calibration({ backlog: 50 }), 1000);
    assert.deepEqual([a.maxRecovery, a.synDropped], [b.maxRecovery, b.synDropped]);
    assert.ok(a.w.clock.now() - SIM_EPOCH_MS >= 90_000);
  });
});

describe('a sign-in in two visits (helloShare)', () => {
  test('the hello is done a round trip after the upgrade', async () => {
    // One client, a fixed 200 ms round trip: the 101 goes back and the hello comes in before the node signs it in.
    const link = { rttMs: 200, jitterMs: 0, signInCpuUs: 2_000 };
    const whole = await storm(calibration({ ...link, helloShare: 0 }), 1);
    const split = await storm(calibration({ ...link, helloShare: 0.5 }), 1);
    assert.equal(whole.w.clients.online, 1);
    assert.equal(split.w.clients.online, 1);
    // Attempt → welcome: SYN 100 + sign-in 2 + welcome 100 ms whole; the 101 and the hello add 200 ms.
    assert.ok(Math.abs(whole.lastSignInMs - 202) <= 2, `${whole.lastSignInMs} ms whole`);
    assert.ok(Math.abs(split.lastSignInMs - 402) <= 2, `${split.lastSignInMs} ms split`);
  });

  test('a busy load process sends its hellos between turns, and a burst of hellos meets admission control', async () => {
    // One load process starting an attempt every 0.6 ms; the node signs in far faster than that and
    // admits 2,000/s with a burst of 100: hellos that come at the process's pace all pass.
    const rig: LoadRig = { processes: 1, attemptMs: 0.6 };
    const admission = { rig, signInsPerSec: 2_000, signInBurst: 100 };
    const cal = (helloShare: number) => calibration({ signInCpuUs: 100, helloShare });
    const paced = await storm(cal(0), 3000, admission);
    // Split, the hellos wait for the end of the process's turn in progress, which grows with its backlog.
    const turns = await storm(cal(0.5), 3000, admission);
    assert.ok(turns.shed > 3 * paced.shed + 100, `${turns.shed} turned away, ${paced.shed} whole`);
    assert.equal(turns.w.clients.online, 3000, 'the turned-away come back');
  });
});

describe('gateway costs in a scenario', () => {
  const text = (engines: string) => `name: cal
seed: 1
duration: 1m
topology: { ezones: { a: { gateways: 16 } } }
clients: { count: 16000, platforms: { android: 1 } }
traffic: { push_per_s: 0 }
${engines}`;
  const cal = loadCalibration();

  test('come from the calibration file unless the scenario sets them', () => {
    const s = toWorldSpec(parseScenario(text(''), 'a.yaml'), cal);
    assert.equal(s.calibration.gateway.signInCpuUs, cal.gateway.signInCpuUs);
    assert.equal(s.calibration.gateway.sessionBytes, cal.gateway.sessionBytes);
    assert.equal(s.calibration.gateway.frameCpuUs, cal.gateway.frameCpuUs);
    const set = toWorldSpec(parseScenario(text('engines: { gateway: { signInCpuUs: 900 } }'), 'b.yaml'), cal);
    assert.equal(set.calibration.gateway.signInCpuUs, 900);
    assert.equal(set.calibration.gateway.frameCpuUs, cal.gateway.frameCpuUs, 'only what is set changes');
  });

  test('scale alike, set or calibrated, and so does the listen queue', () => {
    // 16 gateways × 0.01 = 0.16, one after rounding: each carries 16% of a full one's load.
    const c = 0.16;
    const s = toWorldSpec(scale(parseScenario(text(''), 'a.yaml'), 0.01), cal);
    assert.ok(Math.abs(s.calibration.gateway.signInCpuUs - cal.gateway.signInCpuUs / c) < 1e-6);
    assert.ok(Math.abs(s.calibration.gateway.closeCpuUs - cal.gateway.closeCpuUs / c) < 1e-6);
    assert.equal(s.calibration.network.listenBacklog, Math.round(cal.network.listenBacklog * c));
    const set = toWorldSpec(
      scale(parseScenario(text('engines: { gateway: { signInCpuUs: 900 } }'), 'b.yaml'), 0.01),
      cal,
    );
    assert.ok(Math.abs(set.calibration.gateway.signInCpuUs - 900 / c) < 1e-6);
  });
});
