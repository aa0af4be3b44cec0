/**
 * A Taco node on virtual time with embedded engines and no sockets, for unit
 * tests of the core. Everything that leaves the node is recorded: frames sent
 * to each fake connection (with the virtual time they were sent), close codes,
 * third-party sends, telemetry.
 */
import { SeededRandom } from '../../src/core/clock.js';
import { type CoreConfig, type CoreConfigInput, coreConfig } from '../../src/core/config.js';
import type { ClientConnection, Session } from '../../src/core/gateway.js';
import { createNode, type TacoNode } from '../../src/core/node.js';
import type {
  AppDirectory,
  AppInfo,
  MessageRecord,
  PeerRpc,
  Telemetry,
  ThirdPartyChannel,
} from '../../src/core/ports.js';
import type {
  AckStatus,
  AppState,
  ClientFrame,
  Platform,
  PushFrame,
  ServerFrame,
  ThirdPartyChannelName,
} from '../../src/core/protocol.js';
import type { SendRequest } from '../../src/core/send-request.js';
import { jwtHs256Codec, signToken, type TokenClaims } from '../../src/core/token.js';
import { StaticAppDirectory } from '../../src/engines/embedded/app-directory.js';
import { NoPeersRpc } from '../../src/engines/embedded/local-rpc.js';
import {
  MemoryMessageStore,
  type MemoryMessageStoreOptions,
} from '../../src/engines/embedded/message-store.js';
import { MemoryQueue } from '../../src/engines/embedded/queue.js';
import { MemoryRouteStore } from '../../src/engines/embedded/route-store.js';
import { drainMicrotasks, VirtualScheduler } from '../../src/sim/virtual-clock.js';

/**
 * Seed of the property tests (fast-check), fixed so a run is reproducible; set FC_SEED to explore
 * other inputs (a failure prints the seed and path to replay it).
 */
export const FC_SEED = Number(process.env.FC_SEED ?? 20_250_101);

/** 2025-01-01T00:00:00Z: a whole second, so the wheel's ticks line up with deadlines. */
export const T0 = Date.UTC(2025, 0, 1);

export interface SentFrame {
  at: number;
  frame: ServerFrame;
}

/** A client connection that records what the gateway does to it. */
export class FakeConnection implements ClientConnection {
  readonly sent: SentFrame[] = [];
  closes: { code: number; reason: string; at: number }[] = [];
  constructor(private readonly clock: { now(): number }) {}

  send(frame: ServerFrame): void {
    this.sent.push({ at: this.clock.now(), frame: structuredClone(frame) });
  }
  close(code: number, reason: string): void {
    this.closes.push({ code, reason, at: this.clock.now() });
  }

  get closed(): boolean {
    return this.closes.length > 0;
  }
  get closeCode(): number | undefined {
    return this.closes[0]?.code;
  }
  get closedAt(): number | undefined {
    return this.closes[0]?.at;
  }
  frames<Op extends ServerFrame['op']>(op: Op): Extract<ServerFrame, { op: Op }>[] {
    return this.sent.filter((s) => s.frame.op === op).map((s) => s.frame as Extract<ServerFrame, { op: Op }>);
  }
  pushes(): PushFrame[] {
    return this.frames('push');
  }
  /** Push frames with the virtual time they were sent. */
  pushTimes(id?: string): number[] {
    return this.sent
      .filter((s) => s.frame.op === 'push' && (id === undefined || s.frame.id === id))
      .map((s) => s.at);
  }
  errors() {
    return this.frames('error');
  }
}

export class RecordingTelemetry implements Telemetry {
  readonly counts = new Map<string, number>();
  readonly observations = new Map<string, number[]>();
  readonly gauges = new Map<string, number>();
  count(name: string, n = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }
  observe(name: string, value: number): void {
    let a = this.observations.get(name);
    if (!a) this.observations.set(name, (a = []));
    a.push(value);
  }
  gauge(name: string, value: number): void {
    this.gauges.set(name, value);
  }
  c(name: string): number {
    return this.counts.get(name) ?? 0;
  }
}

/** A third-party channel (APNs/FCM/vendor) that records what it was asked to send. */
export class FakeChannel implements ThirdPartyChannel {
  readonly sends: { token: string; id: string; at: number }[] = [];
  fail = false;
  constructor(
    readonly name: ThirdPartyChannelName,
    private readonly clock: { now(): number },
  ) {}
  async send(token: string, msg: MessageRecord): Promise<void> {
    if (this.fail) throw new Error(`${this.name} unavailable`);
    this.sends.push({ token, id: msg.id, at: this.clock.now() });
  }
}

/** An AppDirectory that records every lookup and the state of the signal it got. */
export class SpyDirectory implements AppDirectory {
  readonly lookups: { appId: string; abortedOnEntry: boolean; at: number }[] = [];
  private readonly inner: StaticAppDirectory;
  constructor(
    apps: AppInfo[],
    private readonly clock: { now(): number },
  ) {
    this.inner = new StaticAppDirectory(apps);
  }
  lookup(appId: string, signal: AbortSignal, _timeoutMs: number): Promise<AppInfo | undefined> {
    this.lookups.push({ appId, abortedOnEntry: signal.aborted, at: this.clock.now() });
    return this.inner.lookup(appId, signal);
  }
}

export interface HarnessOptions {
  config?: CoreConfigInput;
  startMs?: number;
  seed?: number;
  node?: number;
  ezone?: string;
  apps?: AppInfo[];
  channels?: ThirdPartyChannelName[];
  rpc?: PeerRpc;
  /** Start the dispatcher's consumers (default true). */
  start?: boolean;
  messageStore?: Partial<MemoryMessageStoreOptions>;
}

export interface SignInOptions {
  app?: string;
  secret?: string;
  user?: string;
  loc?: string;
  platform?: Platform;
  appState?: AppState;
  expSec?: number;
  configVersion?: number;
}

export interface Client {
  conn: FakeConnection;
  session: Session;
  device: string;
  app: string;
}

export const APP = 'app1';
export const SECRET = 'app1-secret';
export const APP2 = 'app2';
export const SECRET2 = 'app2-secret';

export class CoreHarness {
  readonly clock: VirtualScheduler;
  readonly random: SeededRandom;
  readonly cfg: CoreConfig;
  readonly routes = new MemoryRouteStore();
  readonly messages: MemoryMessageStore;
  readonly queue = new MemoryQueue();
  readonly telemetry = new RecordingTelemetry();
  readonly directory: SpyDirectory;
  readonly channels = new Map<ThirdPartyChannelName, FakeChannel>();
  readonly node: TacoNode;

  constructor(opts: HarnessOptions = {}) {
    this.clock = new VirtualScheduler(opts.startMs ?? T0);
    this.random = new SeededRandom(opts.seed ?? 1);
    this.cfg = coreConfig(opts.config ?? {});
    this.messages = new MemoryMessageStore(opts.messageStore);
    this.directory = new SpyDirectory(
      opts.apps ?? [
        { id: APP, secret: SECRET },
        { id: APP2, secret: SECRET2 },
      ],
      this.clock,
    );
    for (const name of opts.channels ?? []) this.channels.set(name, new FakeChannel(name, this.clock));
    this.node = createNode({ node: opts.node ?? 1, ezone: opts.ezone ?? 'sh' }, this.cfg, {
      clock: this.clock,
      random: this.random,
      apps: this.directory,
      tokens: jwtHs256Codec,
      routes: this.routes,
      messages: this.messages,
      queue: this.queue,
      rpc: opts.rpc ?? new NoPeersRpc(),
      channels: this.channels,
      telemetry: this.telemetry,
    });
  }

  static async create(opts: HarnessOptions = {}): Promise<CoreHarness> {
    const h = new CoreHarness(opts);
    if (opts.start !== false) await h.node.start();
    return h;
  }

  get gateway() {
    return this.node.gateway;
  }
  get dispatcher() {
    return this.node.dispatcher;
  }
  now(): number {
    return this.clock.now();
  }

  async advance(ms: number): Promise<void> {
    await this.clock.advance(ms);
  }
  /** Lets promise continuations run without moving time. */
  async settle(): Promise<void> {
    await this.clock.advance(0);
    await drainMicrotasks();
  }
  /** Advances to an absolute virtual time. */
  async advanceTo(ms: number): Promise<void> {
    if (ms > this.now()) await this.clock.advance(ms - this.now());
    else await this.settle();
  }

  token(device: string, o: SignInOptions = {}): string {
    const claims: TokenClaims = {
      app: o.app ?? APP,
      dev: device,
      exp: o.expSec ?? Math.floor(this.now() / 1000) + 3600,
    };
    if (o.user !== undefined) claims.sub = o.user;
    if (o.loc !== undefined) claims.loc = o.loc;
    return signToken(claims, o.secret ?? (o.app === APP2 ? SECRET2 : SECRET));
  }

  /** Opens a connection without signing in. */
  connect(): { conn: FakeConnection; session: Session } {
    const conn = new FakeConnection(this.clock);
    const session = this.gateway.open(conn);
    return { conn, session };
  }

  /** Sends a frame as JSON text, the way the ws adapter does. */
  sendText(session: Session, frame: ClientFrame | Record<string, unknown> | string): void {
    const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
    this.gateway.text(session, text, Buffer.byteLength(text));
  }

  hello(device: string, o: SignInOptions = {}): ClientFrame {
    const f: ClientFrame = {
      op: 'hello',
      token: this.token(device, o),
      platform: o.platform ?? 'android',
      appState: o.appState ?? 'foreground',
    };
    if (o.configVersion !== undefined) f.configVersion = o.configVersion;
    return f;
  }

  /** Connects and sends hello; does not check the outcome. */
  async tryConnect(device: string, o: SignInOptions = {}): Promise<Client> {
    const { conn, session } = this.connect();
    this.sendText(session, this.hello(device, o));
    await this.settle();
    return { conn, session, device, app: o.app ?? APP };
  }

  /** Connects, signs in and asserts the welcome arrived. */
  async signIn(device: string, o: SignInOptions = {}): Promise<Client> {
    const c = await this.tryConnect(device, o);
    if (c.conn.frames('welcome').length !== 1 || c.conn.closed) {
      throw new Error(
        `sign-in of ${device} failed: ${JSON.stringify(c.conn.sent.map((s) => s.frame))} closes=${JSON.stringify(c.conn.closes)}`,
      );
    }
    return c;
  }

  ack(c: Client, id: string, status: AckStatus = 'received'): void {
    this.sendText(c.session, { op: 'ack', id, status });
  }

  ping(c: Client): void {
    this.sendText(c.session, { op: 'ping' });
  }

  async push(req: Partial<SendRequest> & Pick<SendRequest, 'to'>, app = APP): Promise<string[]> {
    const full: SendRequest = { kind: 'notification', priority: 'normal', title: 't', body: 'b', ...req };
    const ids = await this.dispatcher.send(app, full);
    await this.settle();
    return ids;
  }

  async status(id: string): Promise<MessageRecord> {
    const r = await this.messages.get(id);
    if (!r) throw new Error(`no message ${id}`);
    return structuredClone(r);
  }

  async stop(): Promise<void> {
    await this.node.stop();
  }
}
