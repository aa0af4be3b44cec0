/**
 * Test clients for drills: real WebSocket clients that ask the dispatch API
 * (HTTP-DNS) where their region is served, sign in, ACK every push, and on a
 * close reconnect (after the retry-after a 4503 names, else after a short
 * pause), asking the dispatch API again.
 */
import { WebSocket } from 'ws';
import { signToken } from '../../src/core/token.js';

export const DRILL_APP = { id: 'shop', secret: 'shop-secret-123' };

export class FleetClient {
  ws: WebSocket | undefined;
  ezone: string | undefined;
  node: number | undefined;
  session: string | undefined;
  readonly pushes = new Map<string, number>();
  readonly closes: { code: number; reason: string }[] = [];
  signIns = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly device: string,
    readonly region: string,
    private readonly dispatchBases: () => string[],
  ) {}

  get online(): boolean {
    return this.session !== undefined;
  }

  private token(): string {
    return signToken(
      {
        app: DRILL_APP.id,
        dev: this.device,
        loc: `${this.region}/${this.device}`,
        exp: Math.floor(Date.now() / 1000) + 3600,
      },
      DRILL_APP.secret,
    );
  }

  private async resolve(): Promise<string> {
    let last: unknown;
    for (const base of this.dispatchBases()) {
      try {
        const res = await fetch(`${base}/v1/dispatch?region=${this.region}`, {
          signal: AbortSignal.timeout(2_000),
        });
        if (!res.ok) throw new Error(`dispatch HTTP ${res.status}`);
        const a = (await res.json()) as { gateways: string[] };
        return a.gateways[Math.floor(Math.random() * a.gateways.length)]!;
      } catch (e) {
        last = e;
      }
    }
    throw last;
  }

  start(): void {
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.connect().catch(() => this.schedule(300 + Math.random() * 300));
    }, ms);
  }

  private async connect(): Promise<void> {
    const url = await this.resolve();
    if (this.stopped) return;
    const ws = new WebSocket(url, 'taco.v1');
    this.ws = ws;
    ws.on('open', () =>
      ws.send(
        JSON.stringify({ op: 'hello', token: this.token(), platform: 'android', appState: 'foreground' }),
      ),
    );
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as {
        op: string;
        id?: string;
        session?: string;
        ezone?: string;
        node?: number;
      };
      if (f.op === 'welcome') {
        this.session = f.session;
        this.ezone = f.ezone;
        this.node = f.node;
        this.signIns++;
        // Heartbeats keep the session; the tests run well within 2×heartbeat+5 s anyway.
      } else if (f.op === 'push' && f.id) {
        this.pushes.set(f.id, (this.pushes.get(f.id) ?? 0) + 1);
        ws.send(JSON.stringify({ op: 'ack', id: f.id, status: 'received' }));
      }
    });
    ws.on('error', () => {});
    ws.on('close', (code, reasonBuf) => {
      if (this.ws !== ws) return;
      const reason = String(reasonBuf);
      this.closes.push({ code, reason });
      this.session = undefined;
      this.ezone = undefined;
      const retry = /retry-after=(\d+)/.exec(reason);
      const base = retry ? Number(retry[1]) * 1000 : 50;
      this.schedule(base + Math.random() * (retry ? 1_000 : 150));
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.terminate();
  }
}

export class Fleet {
  readonly clients: FleetClient[] = [];

  constructor(private readonly dispatchBases: () => string[]) {}

  add(region: string, n: number, prefix = region): FleetClient[] {
    const out: FleetClient[] = [];
    for (let i = 0; i < n; i++) {
      const c = new FleetClient(`${prefix}-dev-${i}`, region, this.dispatchBases);
      out.push(c);
      this.clients.push(c);
      c.start();
    }
    return out;
  }

  of(region: string): FleetClient[] {
    return this.clients.filter((c) => c.region === region);
  }

  stop(): void {
    for (const c of this.clients) c.stop();
  }
}
