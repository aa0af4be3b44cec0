/** A device signs in over a real socket; pushes via HTTP and gRPC arrive; ACKs make them delivered. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { PushFrame } from '../../src/core/protocol.js';
import { loadProto } from '../../src/gateway/grpc-api.js';
import {
  APP,
  api,
  HTTP_FRONTS,
  type LiveServer,
  OTHER_APP,
  RawClient,
  startLive,
  tokenFor,
  waitFor,
} from '../helpers/live-server.js';

type PushClient = grpc.Client & {
  Send(
    req: unknown,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (e: grpc.ServiceError | null, r: { ids: string[] }) => void,
  ): void;
  GetStatus(
    req: unknown,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (e: grpc.ServiceError | null, r: { status: string }) => void,
  ): void;
};

function grpcClient(address: string): PushClient {
  const pkg = loadProto('taco/v1/push.proto') as unknown as {
    taco: { v1: { Push: grpc.ServiceClientConstructor } };
  };
  return new pkg.taco.v1.Push(address, grpc.credentials.createInsecure()) as unknown as PushClient;
}

function md(app = APP) {
  const m = new grpc.Metadata();
  m.set('authorization', `Basic ${Buffer.from(`${app.id}:${app.secret}`).toString('base64')}`);
  return m;
}

const deadline = () => ({ deadline: Date.now() + 5000 });

for (const httpFront of HTTP_FRONTS)
  describe(`end to end on real sockets (HTTP API ${httpFront})`, () => {
    let live: LiveServer;
    before(async () => {
      live = await startLive(
        { dispatch: { expirySweepMs: 200, ackTimeoutMs: 1000, retryBaseMs: 200 } },
        { httpFront },
      );
    });
    after(async () => {
      await live.stop();
    });

    test('push via HTTP arrives and the ACK makes it delivered', async () => {
      const c = await RawClient.signIn(live.wsUrl, tokenFor('phone-http'));
      const welcome = c.frames[0]!;
      assert.equal(welcome.op, 'welcome');
      const res = await api(live.httpUrl, 'POST', '/v1/push', {
        to: { devices: ['phone-http'] },
        kind: 'notification',
        title: 'Hi',
        ttl: 60,
      });
      assert.equal(res.status, 202);
      const [id] = res.json.ids as string[];
      const push = (await c.next((f) => f.op === 'push')) as PushFrame;
      assert.equal(push.id, id);
      assert.equal(push.title, 'Hi');
      let status = await api(live.httpUrl, 'GET', `/v1/messages/${id}`);
      assert.equal(status.json.status, 'sent');
      c.send({ op: 'ack', id, status: 'received' });
      status = await waitFor(async () => {
        const s = await api(live.httpUrl, 'GET', `/v1/messages/${id}`);
        return s.json.status === 'delivered' ? s : undefined;
      });
      assert.deepEqual(
        status.json.history.map((h: { status: string }) => h.status),
        ['accepted', 'queued', 'sent', 'delivered'],
      );
      assert.equal(status.json.channel, 'ws');
      c.close();
    });

    test('push via gRPC arrives and GetStatus reports delivered after the ACK', async () => {
      const client = grpcClient(live.grpcAddress);
      const c = await RawClient.signIn(live.wsUrl, tokenFor('phone-grpc'));
      const reply = await new Promise<{ ids: string[] }>((resolve, reject) =>
        client.Send(
          {
            to: { devices: ['phone-grpc'] },
            kind: 'passthrough',
            dataJson: '{"k":1}',
            priority: 'high',
            ttl: 60,
          },
          md(),
          deadline(),
          (e, r) => (e ? reject(e) : resolve(r)),
        ),
      );
      const push = (await c.next((f) => f.op === 'push')) as PushFrame;
      assert.equal(push.id, reply.ids[0]);
      assert.deepEqual(push.data, { k: 1 });
      c.send({ op: 'ack', id: push.id, status: 'received' });
      await waitFor(
        () =>
          new Promise<string | undefined>((resolve) =>
            client.GetStatus({ id: push.id }, md(), deadline(), (e, r) =>
              resolve(!e && r.status === 'delivered' ? r.status : undefined),
            ),
          ),
      );
      const err = await new Promise<grpc.ServiceError>((resolve) =>
        client.Send(
          { to: { devices: [] }, kind: 'notification', priority: 'normal', ttl: 0 },
          md(),
          deadline(),
          (e) => resolve(e!),
        ),
      );
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      const unauth = await new Promise<grpc.ServiceError>((resolve) =>
        client.GetStatus({ id: push.id }, new grpc.Metadata(), deadline(), (e) => resolve(e!)),
      );
      assert.equal(unauth.code, grpc.status.UNAUTHENTICATED);
      client.close();
      c.close();
    });

    test('an offline device gets its message when it signs in', async () => {
      const res = await api(live.httpUrl, 'POST', '/v1/push', {
        to: { devices: ['phone-offline'] },
        kind: 'notification',
        body: 'later',
        ttl: 60,
      });
      const [id] = res.json.ids as string[];
      await waitFor(async () =>
        (await api(live.httpUrl, 'GET', `/v1/messages/${id}`)).json.status === 'queued' ? true : undefined,
      );
      const c = await RawClient.signIn(live.wsUrl, tokenFor('phone-offline'));
      const push = (await c.next((f) => f.op === 'push')) as PushFrame;
      assert.equal(push.id, id);
      c.send({ op: 'ack', id, status: 'received' });
      await waitFor(async () =>
        (await api(live.httpUrl, 'GET', `/v1/messages/${id}`)).json.status === 'delivered' ? true : undefined,
      );
      c.close();
    });

    test('a message whose TTL passes without an ACK ends expired', async () => {
      const c = await RawClient.signIn(live.wsUrl, tokenFor('phone-silent-acker'));
      const res = await api(live.httpUrl, 'POST', '/v1/push', {
        to: { devices: ['phone-silent-acker'] },
        kind: 'notification',
        ttl: 1,
      });
      const [id] = res.json.ids as string[];
      await c.next((f) => f.op === 'push');
      const s = await waitFor(async () => {
        const r = await api(live.httpUrl, 'GET', `/v1/messages/${id}`);
        return r.json.status === 'expired' ? r : undefined;
      }, 5000);
      assert.ok(!s.json.history.some((h: { status: string }) => h.status === 'delivered'));
      c.close();
    });

    test('a second session of the same device closes the first with 4409', async () => {
      const first = await RawClient.signIn(live.wsUrl, tokenFor('phone-twice'));
      const second = await RawClient.signIn(live.wsUrl, tokenFor('phone-twice'));
      assert.equal(await first.waitClose(), 4409);
      const res = await api(live.httpUrl, 'POST', '/v1/push', {
        to: { devices: ['phone-twice'] },
        kind: 'notification',
        ttl: 60,
      });
      const push = await second.next((f) => f.op === 'push');
      assert.equal((push as PushFrame).id, res.json.ids[0]);
      second.close();
    });

    test('an app cannot see or reach another app’s devices and messages', async () => {
      const c = await RawClient.signIn(live.wsUrl, tokenFor('shared-name'));
      const res = await api(
        live.httpUrl,
        'POST',
        '/v1/push',
        { to: { devices: ['shared-name'] }, kind: 'notification', ttl: 60 },
        OTHER_APP,
      );
      assert.equal(res.status, 202);
      const mine = await api(live.httpUrl, 'POST', '/v1/push', {
        to: { devices: ['shared-name'] },
        kind: 'notification',
        ttl: 60,
      });
      const push = (await c.next((f) => f.op === 'push')) as PushFrame;
      assert.equal(push.id, mine.json.ids[0], 'the first push this device sees is its own app’s');
      assert.equal(c.frames.filter((f) => f.op === 'push').length, 1);
      const foreign = await api(
        live.httpUrl,
        'GET',
        `/v1/messages/${mine.json.ids[0]}`,
        undefined,
        OTHER_APP,
      );
      assert.equal(foreign.status, 404);
      // An ACK for another app's message id is ignored.
      c.send({ op: 'ack', id: res.json.ids[0], status: 'received' });
      await new Promise((r) => setTimeout(r, 200));
      const other = await api(live.httpUrl, 'GET', `/v1/messages/${res.json.ids[0]}`, undefined, OTHER_APP);
      assert.notEqual(other.json.status, 'delivered');
      c.close();
    });

    test('config newer than the client’s version is sent after the welcome', async () => {
      const put = await api(live.httpUrl, 'PUT', '/v1/config/ios', { data: { theme: 'dark' } });
      assert.equal(put.status, 200);
      const c = await RawClient.open(live.wsUrl);
      c.send({
        op: 'hello',
        token: tokenFor('phone-config'),
        platform: 'ios',
        appState: 'background',
        configVersion: 0,
      });
      const cfg = await c.next((f) => f.op === 'config');
      assert.deepEqual(cfg, { op: 'config', version: put.json.version, data: { theme: 'dark' } });
      c.close();
    });

    test('upstream is acked once queued and readable over SSE', async () => {
      const c = await RawClient.signIn(live.wsUrl, tokenFor('phone-up'));
      c.send({ op: 'up', id: 'u-1', data: { hello: 'server' } });
      await c.next((f) => f.op === 'up.ack' && f.id === 'u-1');
      const ac = new AbortController();
      const res = await fetch(`${live.httpUrl}/v1/upstream`, {
        headers: { authorization: `Basic ${Buffer.from(`${APP.id}:${APP.secret}`).toString('base64')}` },
        signal: ac.signal,
      });
      const reader = res.body!.getReader();
      let text = '';
      while (!text.includes('u-1')) text += new TextDecoder().decode((await reader.read()).value);
      assert.match(text, /"device":"phone-up"/);
      ac.abort();
      c.close();
    });

    test('health, readiness and metrics answer', async () => {
      assert.equal((await fetch(`${live.httpUrl}/healthz`)).status, 200);
      assert.equal((await fetch(`${live.httpUrl}/readyz`)).status, 200);
      const m = await (await fetch(`${live.httpUrl}/metrics`)).text();
      assert.match(m, /taco_signin_ok_total/);
    });
  });
