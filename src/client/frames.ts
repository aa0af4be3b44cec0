/**
 * Validation of the frames the SDK receives. protocol.ts only checks that a
 * server frame is an object with an `op`; the SDK must not trust the wire, so
 * each field it reads is checked here. Unknown ops return null: a newer server
 * may send frames this SDK does not know, and that must not break the session.
 */
import { TacoError } from '../core/errors.js';
import type {
  ConfigFrame,
  ErrorFrame,
  PongFrame,
  PushFrame,
  ReconnectPolicyWire,
  ServerFrame,
  UpAckFrame,
  WelcomeFrame,
} from '../core/protocol.js';

type Obj = Record<string, unknown>;

function bad(message: string): TacoError {
  return new TacoError('BAD_FRAME', `server frame: ${message}`);
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Obj, field: string, maxLen: number): string {
  const v = o[field];
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLen) {
    throw bad(`${String(o.op)}.${field} must be a string of 1..${maxLen} characters`);
  }
  return v;
}

function optStr(o: Obj, field: string): string | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw bad(`${String(o.op)}.${field} must be a string`);
  return v;
}

function num(o: Obj, field: string): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`${String(o.op)}.${field} must be a number`);
  return v;
}

function optObj(o: Obj, field: string): Obj | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (!isObj(v)) throw bad(`${String(o.op)}.${field} must be an object`);
  return v;
}

function welcome(o: Obj): WelcomeFrame {
  const heartbeat = num(o, 'heartbeat');
  if (heartbeat <= 0) throw bad('welcome.heartbeat must be positive');
  const f: WelcomeFrame = {
    op: 'welcome',
    session: str(o, 'session', 256),
    heartbeat,
    node: num(o, 'node'),
    ezone: str(o, 'ezone', 256),
  };
  // The reconnect extension is advisory: ReconnectPolicy.update() ignores bad fields one by one.
  const r = optObj(o, 'reconnect');
  if (r) f.reconnect = r as unknown as ReconnectPolicyWire;
  return f;
}

function push(o: Obj): PushFrame {
  const kind = o.kind;
  if (kind !== 'notification' && kind !== 'passthrough') {
    throw bad('push.kind must be notification or passthrough');
  }
  const f: PushFrame = { op: 'push', id: str(o, 'id', 32), kind, ts: num(o, 'ts') };
  const title = optStr(o, 'title');
  const body = optStr(o, 'body');
  const data = optObj(o, 'data');
  if (title !== undefined) f.title = title;
  if (body !== undefined) f.body = body;
  if (data !== undefined) f.data = data;
  return f;
}

function config(o: Obj): ConfigFrame {
  const version = num(o, 'version');
  if (!Number.isSafeInteger(version) || version < 0)
    throw bad('config.version must be a non-negative integer');
  const data = optObj(o, 'data');
  if (!data) throw bad('config.data must be an object');
  return { op: 'config', version, data };
}

function error(o: Obj): ErrorFrame {
  const f: ErrorFrame = { op: 'error', code: str(o, 'code', 128), message: optStr(o, 'message') ?? '' };
  if (o.retryAfterMs !== undefined) {
    const ms = num(o, 'retryAfterMs');
    if (ms < 0) throw bad('error.retryAfterMs must not be negative');
    f.retryAfterMs = ms;
  }
  return f;
}

/** Parses one text frame from the server. Throws TacoError BAD_FRAME; returns null for an unknown op. */
export function parseServerFrame(text: string): ServerFrame | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('not valid JSON');
  }
  if (!isObj(v) || typeof v.op !== 'string') throw bad('must be an object with a string "op"');
  switch (v.op) {
    case 'welcome':
      return welcome(v);
    case 'pong':
      return { op: 'pong', ts: typeof v.ts === 'number' ? v.ts : 0 } satisfies PongFrame;
    case 'push':
      return push(v);
    case 'up.ack':
      return { op: 'up.ack', id: str(v, 'id', 128) } satisfies UpAckFrame;
    case 'config':
      return config(v);
    case 'error':
      return error(v);
    default:
      return null;
  }
}
