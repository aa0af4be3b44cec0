/** Every bad input gets its documented code, and only its own connection or request is affected. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import type { ErrorFrame, PushFrame } from '../../src/core/protocol.js';
import { signToken } from '../../src/core/token.js';
import {
  APP,
  api,
  HTTP_FRONTS,
  type LiveServer,
  RawClient,
  startLive,
  tokenFor,
} from '../helpers/live-server.js';

for (const httpFront of HTTP_FRONTS)
  describe(`bad input on real sockets (HTTP API ${httpFront})`, () => {
    let live: LiveServer;
    let bystander: RawClient;
    let heartbeat: NodeJS.Timeout | undefined;
    before(async () => {
      live = await startLive({ gateway: { heartbeatSec: 1, helloTimeoutMs: 1000 } }, { httpFront });
    });
    after(async () => {
      clearInterval(heartbeat);
      await live.stop();
    });

    /** A healthy session that must survive every bad input sent by others. */
    async function bystanderStillWorks() {
      if (!bystander) {
        bystander = await RawClient.signIn(live.wsUrl, tokenFor('bystander'));
        // The bystander is a well-behaved client: it heartbeats.
        heartbeat = setInterval(() => bystander.send({ op: 'ping' }), 500);
      }
      bystander.send({ op: 'ping' });
      const res = await api(live.httpUrl, 'POST', '/v1/push', {
        to: { devices: ['bystander'] },
        kind: 'notification',
        ttl: 60,
      });
      const push = (await bystander.next((f) => f.op === 'push' && f.id === res.json.ids[0])) as PushFrame;
      bystander.send({ op: 'ack', id: push.id, status: 'received' });
    }

    async function expectClose(frame: unknown, code: number, errorCode: string, signIn = true) {
      const c = signIn
        ? await RawClient.signIn(live.wsUrl, tokenFor(`bad-${errorCode}-${Math.random()}`))
        : await RawClient.open(live.wsUrl);
      c.send(frame);
      assert.equal(await c.waitClose(), code);
      const err = c.frames.find((f) => f.op === 'error') as ErrorFrame | undefined;
      assert.ok(err, 'an error frame precedes the close');
      assert.equal(err.code, errorCode);
      await bystanderStillWorks();
    }

    test('malformed JSON → 4400', () => expectClose('{not json', 4400, 'TACO_ERR_BAD_FRAME'));
    test('unknown op → 4400', () => expectClose({ op: 'dance' }, 4400, 'TACO_ERR_UNKNOWN_OP'));
    test('frame over 64 KiB → 4400', () =>
      expectClose(
        { op: 'up', id: 'x', data: { pad: 'x'.repeat(70 * 1024) } },
        4400,
        'TACO_ERR_FRAME_TOO_LARGE',
      ));
    test('invalid field → 4400 naming the field', async () => {
      await expectClose({ op: 'ack', id: '1', status: 'eaten' }, 4400, 'TACO_ERR_BAD_FRAME');
    });
    test('frame before hello → 4400', () =>
      expectClose({ op: 'ping' }, 4400, 'TACO_ERR_HELLO_REQUIRED', false));
    test('bad token → 4401', () =>
      expectClose(
        { op: 'hello', token: 'abc', platform: 'ios', appState: 'foreground' },
        4401,
        'TACO_ERR_TOKEN_INVALID',
        false,
      ));
    test('expired token → 4401', () =>
      expectClose(
        {
          op: 'hello',
          token: tokenFor('old', { expSec: Math.floor(Date.now() / 1000) - 10 }),
          platform: 'ios',
          appState: 'foreground',
        },
        4401,
        'TACO_ERR_TOKEN_EXPIRED',
        false,
      ));
    test('token of an unknown app → 4401', () =>
      expectClose(
        {
          op: 'hello',
          token: signToken(
            { app: 'ghost', dev: 'd', exp: Math.floor(Date.now() / 1000) + 60 },
            'whatever-secret',
          ),
          platform: 'h5',
          appState: 'foreground',
        },
        4401,
        'TACO_ERR_UNKNOWN_APP',
        false,
      ));
    test('token signed with the wrong secret → 4401', () =>
      expectClose(
        {
          op: 'hello',
          token: signToken(
            { app: APP.id, dev: 'd', exp: Math.floor(Date.now() / 1000) + 60 },
            'not-the-secret',
          ),
          platform: 'h5',
          appState: 'foreground',
        },
        4401,
        'TACO_ERR_TOKEN_INVALID',
        false,
      ));

    test('no hello within the sign-in timeout → 4408', async () => {
      const c = await RawClient.open(live.wsUrl);
      assert.equal(await c.waitClose(4000), 4408);
    });

    test('a silent client is reaped with 4408 within 2×heartbeat+5 s', async () => {
      const c = await RawClient.signIn(live.wsUrl, tokenFor('silent'));
      const t0 = Date.now();
      assert.equal(await c.waitClose(10_000), 4408);
      const took = Date.now() - t0;
      assert.ok(took >= 2 * 1000 && took <= (2 * 1 + 5) * 1000 + 300, `reaped after ${took} ms`);
      await bystanderStillWorks();
    });

    test('the upgrade requires the taco.v1 subprotocol and the right path', async () => {
      const noProto = new WebSocket(live.wsUrl);
      const err1 = await new Promise<Error>((resolve) => noProto.once('error', resolve));
      assert.match(err1.message, /400/);
      const wrongPath = new WebSocket(live.wsUrl.replace('/v1/connect', '/nope'), 'taco.v1');
      const err2 = await new Promise<Error>((resolve) => wrongPath.once('error', resolve));
      assert.match(err2.message, /404/);
    });

    test('API bodies that fail validation → 400 naming the field; bad auth → 401; unknown → 404', async () => {
      let r = await api(live.httpUrl, 'POST', '/v1/push', { to: { devices: ['x'] }, kind: 'shout' });
      assert.equal(r.status, 400);
      assert.equal(r.json.error.code, 'TACO_ERR_INVALID_ARGUMENT');
      assert.match(r.json.error.message, /^kind:/);
      r = await api(live.httpUrl, 'POST', '/v1/push', '{"to":');
      assert.equal(r.status, 400);
      r = await api(live.httpUrl, 'POST', '/v1/push', {
        to: { devices: ['x'] },
        kind: 'notification',
        extra: 1,
      });
      assert.equal(r.status, 400);
      r = await api(live.httpUrl, 'POST', '/v1/push', {
        to: { devices: ['x'] },
        kind: 'notification',
        data: { pad: 'x'.repeat(70_000) },
      });
      assert.equal(r.status, 413);
      r = await api(
        live.httpUrl,
        'POST',
        '/v1/push',
        { to: { devices: ['x'] }, kind: 'notification' },
        { id: APP.id, secret: 'wrong-secret' },
      );
      assert.equal(r.status, 401);
      r = await api(live.httpUrl, 'GET', '/v1/messages/123456');
      assert.equal(r.status, 404);
      r = await api(live.httpUrl, 'GET', '/v1/messages/not-an-id');
      assert.equal(r.status, 400);
      r = await api(live.httpUrl, 'PUT', '/v1/config/windows', { data: {} });
      assert.equal(r.status, 400);
      await bystanderStillWorks();
      assert.equal(bystander.closeCode, undefined, 'the bystander was never closed');
      bystander.close();
    });
  });
