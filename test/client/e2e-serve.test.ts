/**
 * The SDK (TacoClient, with `ws`'s WebSocket) against a real `taco serve`
 * stack started in-process on port 0 (embedded engines): sign-in, a push sent
 * over the HTTP API, the ACKs that make it delivered/displayed, a reconnect
 * after the server closes the session, the 4409 that stops a replaced
 * instance for good, and upstream messages acked by the server and read back
 * over SSE.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import {
  type ClientError,
  type StateChange,
  TacoClient,
  type TacoClientOptions,
} from '../../src/client/client.js';
import type { WebSocketCtor } from '../../src/client/platform.js';
import type { PushFrame } from '../../src/core/protocol.js';
import { APP, api, type LiveServer, startLive, tokenFor, waitFor } from '../helpers/live-server.js';

/** What one SDK instance saw, in order. */
class Recorder {
  readonly states: StateChange[] = [];
  readonly errors: ClientError[] = [];
  readonly messages: PushFrame[] = [];
  readonly notifications: PushFrame[] = [];

  constructor(readonly client: TacoClient) {
    client.on('state', (s) => this.states.push(s));
    client.on('error', (e) => this.errors.push(e));
    client.on('message', (p) => this.messages.push(p));
    client.on('notification', (p) => this.notifications.push(p));
  }

  /** Resolves with the first state change at or after index `from` that matches. */
  state(pred: (s: StateChange) => boolean, from = 0, what = 'state'): Promise<StateChange> {
    return waitFor(() => this.states.slice(from).find(pred), 5_000, what);
  }
}

describe('the SDK against a real taco serve', () => {
  let live: LiveServer;
  const clients: TacoClient[] = [];

  const open = async (device: string, opts: Partial<TacoClientOptions> = {}) => {
    const client = new TacoClient({
      url: live.wsUrl,
      token: () => tokenFor(device),
      platform: 'android',
      WebSocket: WebSocket as unknown as WebSocketCtor,
      ...opts,
    });
    clients.push(client);
    const rec = new Recorder(client);
    client.connect();
    await rec.state((s) => s.state === 'open', 0, `${device} open`);
    return rec;
  };

  const push = async (device: string, body: Record<string, unknown> = {}) => {
    const res = await api(live.httpUrl, 'POST', '/v1/push', {
      to: { devices: [device] },
      kind: 'passthrough',
      ttl: 60,
      ...body,
    });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    return (res.json.ids as string[])[0]!;
  };

  const statusOf = async (id: string) => {
    const res = await api(live.httpUrl, 'GET', `/v1/messages/${id}`);
    assert.equal(res.status, 200);
    return res.json as { status: string; history: { status: string; at: number }[] };
  };

  const untilStatus = (id: string, status: string) =>
    waitFor(
      async () => {
        const s = await statusOf(id);
        return s.status === status ? s : undefined;
      },
      5_000,
      `${id} ${status}`,
    );

  before(async () => {
    live = await startLive({
      dispatch: { expirySweepMs: 200, ackTimeoutMs: 1_000, retryBaseMs: 200 },
      // Quick reconnects: the welcome hands this policy to the SDK.
      gateway: { reconnect: { baseMs: 50, maxMs: 200, jitter: 'full' } },
    });
  });

  after(async () => {
    for (const c of clients) c.close();
    await live.stop();
  });

  test('connects, gets a push sent over HTTP, and its ACK makes it delivered (once)', async () => {
    const rec = await open('sdk-push');
    assert.match(rec.client.session ?? '', /^\d+\.\d+$/);
    const id = await push('sdk-push', { data: { order: 42 } });
    const got = await waitFor(() => rec.messages.find((m) => m.id === id), 5_000, 'the push');
    assert.deepEqual(got.data, { order: 42 });
    const s = await untilStatus(id, 'delivered');
    assert.deepEqual(
      s.history.map((h) => h.status),
      ['accepted', 'queued', 'sent', 'delivered'],
    );
    assert.equal(rec.messages.length, 1);
  });

  test('a notification in the background is shown; displayed() and opened() reach the server', async () => {
    const rec = await open('sdk-note', { appState: 'background' });
    const id = await push('sdk-note', { kind: 'notification', title: 'Sale', body: 'today' });
    const note = await waitFor(() => rec.notifications.find((n) => n.id === id), 5_000, 'notification');
    assert.equal(note.title, 'Sale');
    assert.equal(rec.messages.length, 0, 'a background notification is not handed to the app as data');
    await untilStatus(id, 'delivered');
    rec.client.displayed(id);
    await untilStatus(id, 'displayed');
    rec.client.opened(id);
    const s = await untilStatus(id, 'opened');
    assert.deepEqual(
      s.history.map((h) => h.status),
      ['accepted', 'queued', 'sent', 'delivered', 'displayed', 'opened'],
    );
  });

  test('reconnects by itself after the server closes the session, and pushes keep coming', async () => {
    const rec = await open('sdk-drain');
    const first = rec.client.session!;
    const mark = rec.states.length;
    // The server ends this one session (as a draining node does), telling it to come back at once.
    live.server.node.gateway.drain((s) => s.device === 'sdk-drain', 'node draining; retry-after=0');
    const closed = await rec.state((s) => s.state === 'closed', mark, 'closed by the server');
    assert.equal(closed.code, 4503);
    assert.ok(closed.reconnectInMs !== undefined, 'a 4503 is followed by a reconnect');
    const reopened = await rec.state((s) => s.state === 'open', mark, 'reopened');
    assert.notEqual(reopened.session, first, 'a new session');
    const id = await push('sdk-drain');
    await waitFor(() => rec.messages.find((m) => m.id === id), 5_000, 'a push on the new session');
    await untilStatus(id, 'delivered');
  });

  test('pushes sent while the device was offline arrive after its next sign-in', async () => {
    const rec = await open('sdk-offline');
    rec.client.close();
    await waitFor(() => live.server.node.gateway.sessionOf(APP.id, 'sdk-offline') === undefined);
    const id = await push('sdk-offline', { data: { missed: true } });
    await waitFor(async () => ((await statusOf(id)).status === 'queued' ? true : undefined));
    const again = await open('sdk-offline');
    const got = await waitFor(() => again.messages.find((m) => m.id === id), 5_000, 'the pending push');
    assert.deepEqual(got.data, { missed: true });
    await untilStatus(id, 'delivered');
  });

  test('a second instance of the same device replaces the first: 4409, and the first stops for good', async () => {
    const a = await open('sdk-dup');
    const b = await open('sdk-dup');
    const stopped = await a.state((s) => s.state === 'closed', 0, 'the first instance closed');
    assert.equal(stopped.code, 4409);
    assert.equal(stopped.reconnectInMs, undefined, 'no reconnect after 4409');
    const fatal = a.errors.find((e) => e.fatal);
    assert.equal(fatal?.code, 'TACO_ERR_REPLACED');
    const bSession = b.client.session;
    // Well past the reconnect policy's maxMs (200 ms): the first instance did not come back and
    // steal the device again.
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(a.client.state, 'closed');
    assert.equal(a.states.filter((s) => s.state === 'connecting').length, 1, 'one connection attempt only');
    assert.equal(b.client.state, 'open');
    assert.equal(b.client.session, bSession);
    const id = await push('sdk-dup');
    await waitFor(() => b.messages.find((m) => m.id === id), 5_000, 'the push on the second instance');
    assert.equal(a.messages.length, 0);
    await untilStatus(id, 'delivered');
  });

  test('upstream send() is acked by the server (up.ack) and readable over SSE', async () => {
    const rec = await open('sdk-up');
    const handle = rec.client.send({ hello: 'server', n: 1 });
    assert.equal(await handle.acked, true);
    assert.equal(rec.client.pendingUpstream, 0);

    const ac = new AbortController();
    const res = await fetch(`${live.httpUrl}/v1/upstream`, {
      headers: { authorization: `Basic ${Buffer.from(`${APP.id}:${APP.secret}`).toString('base64')}` },
      signal: ac.signal,
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const deadline = Date.now() + 5_000;
    try {
      while (!text.includes(handle.id)) {
        assert.ok(Date.now() < deadline, `no upstream ${handle.id} over SSE; got ${text}`);
        const { value, done } = await reader.read();
        assert.ok(!done, 'the SSE stream ended');
        text += decoder.decode(value, { stream: true });
      }
    } finally {
      ac.abort();
    }
    const event = text.split('\n\n').find((e) => e.includes(handle.id))!;
    assert.match(event, /^event: upstream$/m);
    const data = JSON.parse(/^data: (.*)$/m.exec(event)![1]!) as Record<string, unknown>;
    assert.equal(data.app, APP.id);
    assert.equal(data.device, 'sdk-up');
    assert.equal(data.id, handle.id);
    assert.deepEqual(data.data, { hello: 'server', n: 1 });
  });
});
