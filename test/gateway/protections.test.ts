/**
 * The drills' protections where they touch a real socket (issue 5): the
 * simulator proves them at 1.6M clients through the core; these prove the
 * production transport does its part on loopback TCP.
 *
 * - CLOSE_WAIT: a peer that half-closes (FIN, socket kept open) or goes silent
 *   and never answers the close handshake must not leave a socket or a session
 *   behind: the server closes its side, at the latest at the heartbeat reap
 *   (2×heartbeat+5 s) plus the close grace (5 s).
 * - Admission control: past signInsPerSec + burst, a sign-in gets an error
 *   frame with retryAfterMs and close 4503 `retry-after=N`, and the node keeps
 *   serving the sessions it admitted.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { ErrorFrame } from '../../src/core/protocol.js';
import {
  APP,
  api,
  type LiveServer,
  RawClient,
  startLive,
  tokenFor,
  waitFor,
} from '../helpers/live-server.js';

/** A WebSocket client on a bare TCP socket: it answers nothing it is not told to (no close handshake). */
class BareWsPeer {
  private buf = Buffer.alloc(0);
  /** Opcodes and payloads of the frames received (unmasked, server → client). */
  readonly frames: { opcode: number; payload: Buffer }[] = [];
  ended = false;
  closed = false;
  endedAt = 0;

  private constructor(readonly sock: Socket) {
    sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
    });
    sock.on('end', () => {
      this.ended = true;
      this.endedAt ||= Date.now();
    });
    sock.on('close', () => {
      this.closed = true;
      this.endedAt ||= Date.now();
    });
    sock.on('error', () => {});
  }

  static async connect(port: number): Promise<BareWsPeer> {
    // allowHalfOpen: our FIN does not make Node close the socket for us; only the server may.
    const sock = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    await once(sock, 'connect');
    const key = randomBytes(16).toString('base64');
    sock.write(
      'GET /v1/connect HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: taco.v1\r\n\r\n`,
    );
    let head = Buffer.alloc(0);
    while (!head.includes('\r\n\r\n')) {
      const [chunk] = (await once(sock, 'data')) as [Buffer];
      head = Buffer.concat([head, chunk]);
    }
    const end = head.indexOf('\r\n\r\n') + 4;
    assert.match(head.subarray(0, end).toString(), /^HTTP\/1\.1 101 /);
    const peer = new BareWsPeer(sock);
    if (head.length > end) {
      peer.buf = head.subarray(end);
      peer.parse();
    }
    return peer;
  }

  /** Sends one masked text frame, as a client must. */
  sendText(text: string): void {
    const payload = Buffer.from(text);
    const mask = randomBytes(4);
    const len = payload.length;
    const header =
      len < 126 ? Buffer.from([0x81, 0x80 | len]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 255]);
    const masked = Buffer.alloc(len);
    for (let i = 0; i < len; i++) masked[i] = payload[i]! ^ mask[i & 3]!;
    this.sock.write(Buffer.concat([header, mask, masked]));
  }

  texts(): string[] {
    return this.frames.filter((f) => f.opcode === 1).map((f) => f.payload.toString());
  }

  closeCode(): number | undefined {
    const c = this.frames.find((f) => f.opcode === 8);
    return c && c.payload.length >= 2 ? c.payload.readUInt16BE(0) : undefined;
  }

  private parse(): void {
    for (;;) {
      if (this.buf.length < 2) return;
      const opcode = this.buf[0]! & 0x0f;
      let len = this.buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.buf.length < off + len) return;
      this.frames.push({ opcode, payload: this.buf.subarray(off, off + len) });
      this.buf = this.buf.subarray(off + len);
    }
  }
}

const HEARTBEAT_SEC = 1;
const REAP_MS = (2 * HEARTBEAT_SEC + 5) * 1000;
const CLOSE_GRACE_MS = 5_000; // src/gateway/ws-gateway.ts defaultWsGatewayOptions.closeGraceMs

describe('CLOSE_WAIT protection on real sockets', { timeout: 60_000 }, () => {
  let live: LiveServer;
  let wsPort: number;
  before(async () => {
    live = await startLive({ gateway: { heartbeatSec: HEARTBEAT_SEC, helloTimeoutMs: 1000 } });
    wsPort = live.server.ready.ws;
  });
  after(() => live.stop());

  const gateway = () => live.server.node.gateway;

  async function signedIn(device: string): Promise<BareWsPeer> {
    const peer = await BareWsPeer.connect(wsPort);
    peer.sendText(
      JSON.stringify({ op: 'hello', token: tokenFor(device), platform: 'android', appState: 'foreground' }),
    );
    await waitFor(() => peer.texts().some((t) => t.includes('"welcome"')), 5_000, 'welcome');
    return peer;
  }

  test('a peer that half-closes (FIN) after sign-in: the server closes its side and forgets the session', async () => {
    const before = gateway().connections;
    const peer = await signedIn('half-closer');
    assert.equal(gateway().connections, before + 1);
    const finAt = Date.now();
    peer.sock.end(); // FIN; our socket stays open for reading (allowHalfOpen)
    await waitFor(
      () => peer.ended || peer.closed,
      REAP_MS + CLOSE_GRACE_MS + 2_000,
      'the server to close its side',
    );
    await waitFor(() => gateway().connections === before, 2_000, 'the connection to be forgotten');
    assert.ok(peer.endedAt - finAt <= REAP_MS + CLOSE_GRACE_MS, `closed after ${peer.endedAt - finAt} ms`);
    assert.equal(gateway().sessionOf(APP.id, 'half-closer'), undefined);
    peer.sock.destroy();
  });

  test('a silent peer that never answers the close handshake: reaped with 4408, then the socket is cut', async () => {
    const before = gateway().connections;
    const peer = await signedIn('silent');
    const lastFrameAt = Date.now();
    // Say nothing more, answer nothing: the reap sends a close frame nobody acknowledges.
    await waitFor(() => peer.closeCode() !== undefined, REAP_MS + 2_000, 'the reap close frame');
    const reapedAfter = Date.now() - lastFrameAt;
    assert.equal(peer.closeCode(), 4408);
    assert.ok(reapedAfter >= 2 * HEARTBEAT_SEC * 1000, `reaped too early, after ${reapedAfter} ms`);
    assert.ok(
      peer.texts().some((t) => t.includes('TACO_ERR_HEARTBEAT_TIMEOUT')),
      'an error frame names the heartbeat timeout',
    );
    // The socket is ours to end: terminated after the close grace although the peer never replied.
    await waitFor(() => peer.ended || peer.closed, CLOSE_GRACE_MS + 2_000, 'the socket to be terminated');
    assert.ok(peer.endedAt - lastFrameAt <= REAP_MS + CLOSE_GRACE_MS + 1_000);
    await waitFor(() => gateway().connections === before, 2_000, 'the connection to be forgotten');
    peer.sock.destroy();
  });

  test('a peer that half-closes before its hello is ended at the sign-in timeout at the latest', async () => {
    const before = gateway().connections;
    const peer = await BareWsPeer.connect(wsPort);
    const finAt = Date.now();
    peer.sock.end();
    await waitFor(
      () => peer.ended || peer.closed,
      1_000 + CLOSE_GRACE_MS + 2_000,
      'the server to close its side',
    );
    await waitFor(() => gateway().connections === before, 2_000, 'the connection to be forgotten');
    assert.ok(peer.endedAt - finAt <= 1_000 + CLOSE_GRACE_MS + 1_000);
    peer.sock.destroy();
  });
});

describe('admission control on real sockets', { timeout: 30_000 }, () => {
  let live: LiveServer;
  before(async () => {
    live = await startLive({ gateway: { signInsPerSec: 1, signInBurst: 3, retryAfterMs: 3_000 } });
  });
  after(() => live.stop());

  test('past the burst a sign-in gets retryAfterMs and 4503 retry-after; admitted sessions keep working', async () => {
    const clients = await Promise.all(
      Array.from({ length: 8 }, () => RawClient.open(`ws://127.0.0.1:${live.server.ready.ws}/v1/connect`)),
    );
    clients.forEach((c, i) => {
      c.send({ op: 'hello', token: tokenFor(`storm-${i}`), platform: 'ios', appState: 'foreground' });
    });
    const outcomes = await Promise.all(
      clients.map((c) =>
        Promise.race([
          c.next((f) => f.op === 'welcome', 5_000).then(() => 'admitted' as const),
          c.waitClose(5_000).then(() => 'shed' as const),
        ]),
      ),
    );
    const admitted = clients.filter((_, i) => outcomes[i] === 'admitted');
    const shed = clients.filter((_, i) => outcomes[i] === 'shed');
    // The bucket holds 3 and refills at 1/s: 3 or 4 get in within the test's first second, never all 8.
    assert.ok(admitted.length >= 3 && admitted.length <= 4, `admitted ${admitted.length}`);
    assert.equal(admitted.length + shed.length, 8);
    for (const c of shed) {
      assert.equal(c.closeCode, 4503);
      assert.equal(c.closeReason, 'retry-after=3');
      const err = c.frames.find((f) => f.op === 'error') as ErrorFrame | undefined;
      assert.ok(err, 'an error frame precedes the 4503');
      assert.equal(err.code, 'TACO_ERR_OVERLOADED');
      assert.equal(err.retryAfterMs, 3_000);
    }
    // The admitted ones are served as usual.
    const device = `storm-${outcomes.indexOf('admitted')}`;
    const target = clients[outcomes.indexOf('admitted')]!;
    const res = await api(live.httpUrl, 'POST', '/v1/push', {
      to: { devices: [device] },
      kind: 'notification',
    });
    assert.equal(res.status, 202);
    await target.next((f) => f.op === 'push' && f.id === res.json.ids[0]);
    for (const c of clients) c.close();
  });
});
