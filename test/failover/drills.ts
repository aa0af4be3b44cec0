/**
 * The drills of issue 6, run against two ezones (harness.ts) with `taco
 * failover` in process — the same code whatever engines the ezones use.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import FailoverDns from '../../src/commands/failover/dns.js';
import FailoverRollback from '../../src/commands/failover/rollback.js';
import FailoverShard from '../../src/commands/failover/shard.js';
import FailoverStatus from '../../src/commands/failover/status.js';
import { decodeMsgId } from '../../src/core/msgid.js';
import { Fleet } from './fleet.js';
import {
  counterOf,
  Pusher,
  routesOf,
  type Sent,
  shardOfId,
  type TwoEzones,
  until,
  whereIs,
} from './harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

type Cmd = typeof FailoverShard | typeof FailoverDns | typeof FailoverRollback | typeof FailoverStatus;

/** Runs a command class in process, capturing what it prints. */
export async function runCommand(
  C: Cmd,
  argv: string[],
): Promise<{ out: string; err: string; exit: number }> {
  const io = { out: '', err: '' };
  const Captured = class extends (C as typeof FailoverShard) {
    override log(message = ''): void {
      io.out += `${message}\n`;
    }
    override logToStderr(message = ''): void {
      io.err += `${message}\n`;
    }
  };
  try {
    await (Captured as unknown as { run(a: string[], r: string): Promise<unknown> }).run(argv, ROOT);
    return { ...io, exit: 0 };
  } catch (e) {
    const exit = (e as { oclif?: { exit?: number } }).oclif?.exit;
    if (exit === undefined) throw e;
    return { ...io, exit };
  }
}

const urls = (ez: TwoEzones) => ez.nodes.flatMap((n) => ['--url', n.http]);
const DELIVERED = new Set(['delivered', 'displayed', 'opened']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function startFleet(ez: TwoEzones, perRegion: number): Fleet {
  const fleet = new Fleet(() => ez.nodes.map((n) => n.http));
  fleet.add('sh', perRegion);
  fleet.add('bj', perRegion);
  return fleet;
}

export async function fleetSettled(ez: TwoEzones, fleet: Fleet): Promise<void> {
  await until(() => fleet.clients.every((c) => c.online), 30_000, 'every client signed in');
  for (const c of fleet.clients)
    assert.equal(c.ezone, c.region, `${c.device} signed in in its region’s ezone`);
  await routesConverged(ez, fleet);
}

/** Every device has the same route in both ezones, naming the node it is on. */
export async function routesConverged(ez: TwoEzones, fleet: Fleet, ms = 15_000): Promise<void> {
  await until(
    async () => {
      for (const c of fleet.clients) {
        const [a, b] = await routesOf(ez, c.device);
        if (!a || !b || a.session !== b.session || a.updatedAt !== b.updatedAt || a.session !== c.session)
          return false;
      }
      return true;
    },
    ms,
    'routes to converge in both ezones',
  );
}

/** Every accepted push is delivered, its record in exactly one ezone, and its device got it. */
async function allDelivered(ez: TwoEzones, fleet: Fleet, sent: Sent[]) {
  const byDevice = new Map(fleet.clients.map((c) => [c.device, c]));
  const homes = new Map<string, string>();
  await until(
    async () => {
      for (const s of sent) {
        if (homes.has(s.id)) continue;
        const where = await whereIs(ez, s.id);
        assert.ok(where.length <= 1, `message ${s.id} is held by ${where.length} ezones`);
        if (
          where.length === 1 &&
          DELIVERED.has(where[0]!.rec.status) &&
          byDevice.get(s.device)!.pushes.has(s.id)
        )
          homes.set(s.id, where[0]!.ezone);
      }
      return homes.size === sent.length;
    },
    40_000,
    'every push to be delivered (0 lost)',
  ).catch(async (e) => {
    const missing = sent.filter((s) => !homes.has(s.id)).slice(0, 5);
    const detail = await Promise.all(
      missing.map(async (s) => ({
        ...s,
        where: (await whereIs(ez, s.id)).map((w) => `${w.ezone}:${w.rec.status}`),
      })),
    );
    throw new Error(
      `${(e as Error).message}; ${sent.length - homes.size} of ${sent.length} not delivered, e.g. ${JSON.stringify(detail)}`,
    );
  });
  return homes;
}

export async function shardDrill(ez: TwoEzones, fleet: Fleet): Promise<void> {
  const devices = fleet.clients.map((c) => c.device);
  const forwardedBefore = await counterOf(ez, 'taco_ack_forwarded_total');
  const pusher = new Pusher(ez, () => devices, 20);
  pusher.start();
  await sleep(1_500);

  // Dry run: shows what would move, changes nothing.
  const dry = await runCommand(FailoverShard, ['0-14', '--to', 'bj', '--dry-run', ...urls(ez)]);
  assert.equal(dry.exit, 0, dry.err);
  assert.match(dry.out, /shards 0-14: sh → bj \(15\)/);
  assert.equal((await ez.shardMaps.current())!.version, 1);

  // Refused: a shard would have no ezone.
  const refused = await runCommand(FailoverShard, ['0-14', '--to', 'gz', ...urls(ez)]);
  assert.equal(refused.exit, 2);
  assert.match(refused.err, /shards 0-14 would have no ezone/);

  const moved = await runCommand(FailoverShard, [
    '0-14',
    '--to',
    'bj',
    ...urls(ez),
    '--watch',
    '4s',
    '--interval',
    '500ms',
    '--json',
    '--no-dashboard',
    '--slo',
    'sometimes(map.converged) within 2s after change',
    '--slo',
    'count(ack.forward_failed) == 0',
    '--by',
    'drill-lead',
  ]);
  assert.equal(moved.exit, 0, `${moved.out}\n${moved.err}`);
  const r = JSON.parse(moved.out) as {
    current: number;
    plan: { shards: { from: string; to: string }[] };
    slos: { ok: boolean }[];
  };
  assert.equal(r.current, 2);
  assert.equal(r.plan.shards.length, 15);
  assert.ok(r.plan.shards.every((m) => m.from === 'sh' && m.to === 'bj'));
  const v2 = (await ez.shardMaps.get(2))!;
  assert.equal(v2.change.by, 'drill-lead');
  await sleep(1_000);
  await pusher.stop();
  assert.deepEqual(pusher.failures, []);
  assert.ok(pusher.sent.length > 60, `only ${pusher.sent.length} pushes`);

  // 0 lost; each record in exactly one ezone: its shard's home when it was accepted.
  const homes = await allDelivered(ez, fleet, pusher.sent);
  const changeAt = v2.change.at;
  let checked = 0;
  for (const s of pusher.sent) {
    const created = decodeMsgId(s.id).timeMs;
    const shard = shardOfId(s.id);
    const expected =
      created < changeAt - 50 ? (shard < 15 ? 'sh' : 'bj') : created > changeAt + 1_000 ? 'bj' : undefined;
    if (expected) {
      checked++;
      assert.equal(
        homes.get(s.id),
        expected,
        `message ${s.id} (shard ${shard}) processed in ${homes.get(s.id)}`,
      );
    }
  }
  assert.ok(checked > pusher.sent.length / 2);
  // ACKs taken in the other ezone went home.
  assert.ok((await counterOf(ez, 'taco_ack_forwarded_total')) > forwardedBefore, 'some ACKs were forwarded');
  assert.equal(await counterOf(ez, 'taco_ack_forward_failed_total'), 0);
  await routesConverged(ez, fleet);

  // Rollback restores the first map as version 3; pushes of shards 0-14 are processed in sh again.
  const back = await runCommand(FailoverRollback, [
    ...urls(ez),
    '--watch',
    '2s',
    '--interval',
    '500ms',
    '--json',
    '--no-dashboard',
  ]);
  assert.equal(back.exit, 0, `${back.out}\n${back.err}`);
  const v3 = (await ez.shardMaps.current())!;
  assert.equal(v3.version, 3);
  assert.equal(v3.change.kind, 'rollback');
  assert.deepEqual(v3.shards, (await ez.shardMaps.get(1))!.shards);
  await sleep(1_000);
  const after = new Pusher(ez, () => devices, 20);
  after.start();
  await sleep(1_500);
  await after.stop();
  const homes2 = await allDelivered(ez, fleet, after.sent);
  for (const s of after.sent) assert.equal(homes2.get(s.id), shardOfId(s.id) < 15 ? 'sh' : 'bj');

  const status = await runCommand(FailoverStatus, [...urls(ez)]);
  assert.equal(status.exit, 0, status.err);
  assert.match(status.out, /shard map v3/);
  assert.match(status.out, /v2 shards 0-14 → bj by drill-lead/);
}

export async function dnsDrill(ez: TwoEzones, fleet: Fleet): Promise<void> {
  const devices = fleet.clients.map((c) => c.device);
  const shClients = fleet.of('sh');
  const rejectedBefore = await counterOf(ez, 'taco_signin_rejected_total', 'bj');
  const pusher = new Pusher(ez, () => devices, 20);
  pusher.start();
  await sleep(1_000);
  const dry = await runCommand(FailoverDns, ['sh', '--to', 'bj', '--dry-run', ...urls(ez)]);
  assert.equal(dry.exit, 0, dry.err);
  assert.match(dry.out, /region sh: sh → bj/);
  assert.match(dry.out, new RegExp(`sessions to drain: ${shClients.length}`));

  const started = Date.now();
  const r = await runCommand(FailoverDns, [
    'sh',
    '--to',
    'bj',
    ...urls(ez),
    '--watch',
    '12s',
    '--interval',
    '1s',
    '--json',
    '--no-dashboard',
    '--slo',
    'sometimes(drain.complete) within 12s after change',
    '--slo',
    'max(signin.rate{ezone:bj}) <= 20',
  ]);
  assert.equal(r.exit, 0, `${r.out}\n${r.err}`);
  const res = JSON.parse(r.out) as { slos: { slo: string; ok: boolean; message: string }[] };
  assert.ok(
    res.slos.every((s) => s.ok),
    JSON.stringify(res.slos),
  );
  await pusher.stop();
  assert.deepEqual(pusher.failures, []);

  // sh's clients were closed with 4503 naming bj, and are all in bj now.
  for (const c of shClients) {
    assert.equal(c.ezone, 'bj', `${c.device} is in ${c.ezone}`);
    assert.ok(
      c.closes.some((x) => x.code === 4503 && /moved ezone=bj region=sh/.test(x.reason)),
      JSON.stringify(c.closes),
    );
  }
  for (const c of fleet.of('bj')) assert.equal(c.ezone, 'bj');
  assert.ok(Date.now() - started < 30_000);
  // Admission control paced the sign-ins in bj (some turned away with retry-after).
  assert.ok(
    (await counterOf(ez, 'taco_signin_rejected_total', 'bj')) > rejectedBefore,
    'admission control engaged',
  );
  await allDelivered(ez, fleet, pusher.sent);
  await routesConverged(ez, fleet);
}
