// Node-to-node delivery over internal gRPC: addresses from the node directory, a deadline on every call,
// a bound on calls in flight per peer, forwarded ACKs to an ezone, and peers that are gone.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { TacoError } from '../../src/core/errors.js';
import { PeerBreaker } from '../../src/core/peer-breaker.js';
import { type DeliverRequest, nullTelemetry } from '../../src/core/ports.js';
import { MemoryNodeDirectory } from '../../src/engines/embedded/node-directory.js';
import { GrpcPeerRpc } from '../../src/engines/grpc-peer/client.js';
import { keepRegistered } from '../../src/engines/grpc-peer/registration.js';
import {
  createPeerServer,
  type ForwardedAck,
  PEER_SERVER_OPTIONS,
} from '../../src/engines/grpc-peer/server.js';
import { systemScheduler } from '../../src/engines/system-clock.js';

const req = (session: string): DeliverRequest => ({
  app: 'app',
  device: 'dev',
  session,
  frame: {
    op: 'push',
    id: '123456789',
    kind: 'notification',
    title: 't',
    data: { k: [1, 'x'] },
    ts: 1_700_000_000_000,
  },
});

interface Node {
  server: grpc.Server;
  address: string;
  delivered: DeliverRequest[];
  acks: ForwardedAck[];
  aborted: number;
  hold: boolean;
}

async function startNode(sessions: string[]): Promise<Node> {
  const server = new grpc.Server(PEER_SERVER_OPTIONS);
  const node: Node = { server, address: '', delivered: [], acks: [], aborted: 0, hold: false };
  createPeerServer({
    async deliverLocal(r, signal) {
      if (node.hold)
        await new Promise<void>((resolve) =>
          signal.addEventListener(
            'abort',
            () => {
              node.aborted++;
              resolve();
            },
            { once: true },
          ),
        );
      node.delivered.push(r);
      return sessions.includes(r.session) ? 'sent' : 'no-session';
    },
    async onForwardAck(ack) {
      node.acks.push(ack);
    },
  }).addTo(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  node.address = `127.0.0.1:${port}`;
  return node;
}

describe('internal gRPC between nodes', () => {
  let a: Node;
  let b: Node;
  const dir = new MemoryNodeDirectory();
  let rpc: GrpcPeerRpc;

  before(async () => {
    a = await startNode(['s-a']);
    b = await startNode(['s-b']);
    await dir.register(1, 'sh', a.address, 60_000);
    await dir.register(2, 'bj', b.address, 60_000);
    rpc = new GrpcPeerRpc({ directory: dir, maxInFlightPerPeer: 3 });
  });
  after(() => {
    rpc.close();
    a.server.forceShutdown();
    b.server.forceShutdown();
  });

  test('deliver reaches the node that holds the session, frame intact', async () => {
    assert.equal(await rpc.deliver(1, req('s-a'), 2_000), 'sent');
    assert.deepEqual(a.delivered.at(-1), req('s-a'));
    assert.equal(await rpc.deliver(2, req('s-gone'), 2_000), 'no-session');
    const bare: DeliverRequest = {
      ...req('s-b'),
      frame: { op: 'push', id: '1', kind: 'passthrough', ts: 5 },
    };
    assert.equal(await rpc.deliver(2, bare, 2_000), 'sent');
    assert.deepEqual(b.delivered.at(-1), bare, 'absent optional fields stay absent');
  });

  test('a node missing from the directory means the route is stale: no-session', async () => {
    assert.equal(await rpc.deliver(77, req('s-a'), 2_000), 'no-session');
  });

  test('every call ends by its deadline, and the peer sees the cancellation', async () => {
    a.hold = true;
    try {
      const started = Date.now();
      await assert.rejects(rpc.deliver(1, req('s-a'), 150), (e: TacoError) => e.code === 'DEADLINE_EXCEEDED');
      const took = Date.now() - started;
      assert.ok(took >= 140 && took < 1_000, `ended at the deadline (${took} ms)`);
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(a.aborted >= 1, 'the server handler was told to stop');
    } finally {
      a.hold = false;
    }
  });

  test('beyond the in-flight bound per peer, calls fail fast with QUOTA_EXHAUSTED', async () => {
    a.hold = true;
    try {
      const held = [1, 2, 3].map(() => rpc.deliver(1, req('s-a'), 1_000).catch((e: TacoError) => e.code));
      await new Promise((r) => setTimeout(r, 30));
      const started = Date.now();
      await assert.rejects(rpc.deliver(1, req('s-a'), 1_000), (e: TacoError) => e.code === 'QUOTA_EXHAUSTED');
      assert.ok(Date.now() - started < 50, 'fails at once rather than queueing');
      // Another peer is not affected.
      assert.equal(await rpc.deliver(2, req('s-b'), 1_000), 'sent');
      assert.deepEqual(await Promise.all(held), [
        'DEADLINE_EXCEEDED',
        'DEADLINE_EXCEEDED',
        'DEADLINE_EXCEEDED',
      ]);
      assert.equal(rpc.inFlightTo(a.address), 0);
    } finally {
      a.hold = false;
    }
  });

  test('forwardAck goes to a live node of the ezone', async () => {
    const ack = { app: 'app', id: '42', status: 'received', at: 1_700_000_000_123 };
    await rpc.forwardAck('bj', ack, 2_000);
    assert.deepEqual(b.acks.at(-1), ack);
    await assert.rejects(
      rpc.forwardAck('nowhere', ack, 2_000),
      (e: TacoError) => e.code === 'ENGINE_UNAVAILABLE',
    );
  });

  test('a peer that is gone fails within the deadline (UNAVAILABLE or DEADLINE_EXCEEDED)', async () => {
    const c = await startNode(['s-c']);
    await dir.register(3, 'sh', c.address, 60_000);
    assert.equal(await rpc.deliver(3, req('s-c'), 2_000), 'sent');
    c.server.forceShutdown();
    const started = Date.now();
    await assert.rejects(rpc.deliver(3, req('s-c'), 500), (e: TacoError) =>
      ['ENGINE_UNAVAILABLE', 'DEADLINE_EXCEEDED'].includes(e.code),
    );
    assert.ok(Date.now() - started < 1_500);
  });

  test('the peer breaker over the real client: a hanging peer is paused after its failures, then probed', async () => {
    const breaker = new PeerBreaker(
      rpc,
      systemScheduler,
      { failures: 2, openMs: 200, maxOpenMs: 1_000 },
      nullTelemetry,
    );
    a.hold = true;
    try {
      for (let i = 0; i < 2; i++) {
        await assert.rejects(
          breaker.deliver(1, req('s-a'), 100),
          (e: TacoError) => e.code === 'DEADLINE_EXCEEDED',
        );
      }
      await new Promise((r) => setTimeout(r, 100)); // the peer sees both cancellations
      const reachedBefore = a.delivered.length;
      const started = Date.now();
      await assert.rejects(
        breaker.deliver(1, req('s-a'), 100),
        (e: TacoError) => e.code === 'PEER_UNAVAILABLE',
      );
      assert.ok(Date.now() - started < 50, 'fails at once while open');
      assert.equal(await breaker.deliver(2, req('s-b'), 1_000), 'sent', 'other peers still served');
      a.hold = false;
      await new Promise((r) => setTimeout(r, 250));
      assert.equal(await breaker.deliver(1, req('s-a'), 1_000), 'sent', 'the probe after openMs closes it');
      assert.deepEqual(breaker.openPeers, []);
      assert.equal(
        a.delivered.length,
        reachedBefore + 1,
        'only the probe reached the peer, not the paused call',
      );
    } finally {
      a.hold = false;
    }
  });

  test('a node keeps itself registered until it stops', async () => {
    const d = new MemoryNodeDirectory();
    const reg = await keepRegistered(d, { node: 9, ezone: 'sh', address: 'x:1', ttlMs: 150 });
    await new Promise((r) => setTimeout(r, 400));
    assert.equal((await d.lookup(9))?.address, 'x:1', 'still there after more than two TTLs');
    reg.stop();
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(await d.lookup(9), undefined, 'gone within a TTL of the last beat');
  });
});
