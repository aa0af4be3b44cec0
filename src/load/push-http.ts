/**
 * Pushes through the HTTP API with autocannon at an open-model rate.
 *
 * autocannon's own rate limit sends each connection's quota for the second
 * in one burst and then waits for the next second, which is neither open
 * model nor steady. So autocannon keeps its connections, parser and counters,
 * and the pacing is ours: `setupClient` replaces each connection's
 * `_doRequest` with "I am idle", and a 1 ms ticker hands each due arrival to
 * an idle connection. Arrivals never wait for replies; when every connection
 * is busy they queue here with their intended send time, which is the time
 * stamped into the push (`data.t`), so queueing in the load tool counts in the
 * latency instead of hiding it (no coordinated omission).
 */
import autocannon from 'autocannon';
import { monoMs, sleep } from './clock.js';
import { emptyCounts, type PushDriver, type PushTarget, pushBodyJson } from './push-driver.js';

interface AcClient {
  /** Whether the request now on this connection is a measured one (ours). */
  tacoMeasured?: boolean;
  _doRequest: () => void;
  requestIterator: { rebuildRequest: () => unknown; requestBuilder: (req: unknown, ctx: unknown) => Buffer };
  reqsMade: number;
}

export interface HttpPushOptions extends PushTarget {
  httpUrl: string;
  /** HTTP connections autocannon keeps open. */
  connections: number;
  /** Arrivals waiting for a free connection at most; beyond, they are dropped and counted. */
  maxBacklog?: number;
}

export function httpPushDriver(o: HttpPushOptions): PushDriver {
  /** Counts of measured arrivals only; warm-up arrivals (intended before `measuredFrom`) are not counted. */
  const counts = emptyCounts();
  let warmupAccepted = 0;
  let measuredFrom = o.spec.measured ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  const auth = `Basic ${Buffer.from(`${o.app}:${o.secret}`).toString('base64')}`;
  const idle = new Set<AcClient>();
  const orig = new Map<AcClient, () => void>();
  const backlog: number[] = [];
  let backlogHead = 0;
  let currentT = 0;
  let inFlight = 0;
  let instance: autocannon.Instance | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let done: Promise<unknown> | undefined;

  const dispatch = (t: number): boolean => {
    const it = idle.values().next();
    if (it.done) return false;
    const c = it.value;
    idle.delete(c);
    currentT = t;
    c.tacoMeasured = t >= measuredFrom;
    if (c.reqsMade === 0) c.requestIterator.rebuildRequest(); // the first request was built before we set t
    inFlight++;
    if (c.tacoMeasured) counts.sent++;
    orig.get(c)!.call(c);
    return true;
  };

  const drainBacklog = () => {
    while (backlogHead < backlog.length && dispatch(backlog[backlogHead]!)) backlogHead++;
    if (backlogHead > 4096 && backlogHead * 2 > backlog.length) {
      backlog.splice(0, backlogHead);
      backlogHead = 0;
    }
  };

  // autocannon's own request builder merges option objects and joins header lines for every request
  // (~14 µs each on the bench machine); the request is always the same but for its body.
  const url = new URL(o.httpUrl);
  const head =
    `POST /v1/push HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\n` +
    `authorization: ${auth}\r\ncontent-type: application/json\r\nContent-Length: `;
  const buildRequest = (): Buffer => {
    const body = pushBodyJson(o.spec, currentT, currentT >= measuredFrom);
    return Buffer.from(`${head}${Buffer.byteLength(body)}\r\n\r\n${body}`);
  };

  const open = async (durationMs: number) => {
    let finished: () => void = () => {};
    done = new Promise<void>((resolve) => (finished = resolve));
    instance = autocannon(
      {
        url: o.httpUrl,
        connections: o.connections,
        duration: Math.ceil(durationMs / 1000) + 3600,
        timeout: 10,
        requests: [
          {
            method: 'POST',
            path: '/v1/push',
            headers: { authorization: auth, 'content-type': 'application/json' },
            // Present so autocannon rebuilds the request each time (our builder below does the work).
            setupRequest: (req) => req,
          },
        ],
        setupClient: (client) => {
          const c = client as unknown as AcClient;
          if (
            typeof c._doRequest !== 'function' ||
            !c.requestIterator ||
            typeof c.requestIterator.requestBuilder !== 'function'
          )
            throw new Error('this autocannon version has no Client._doRequest: update src/load/push-http.ts');
          c.requestIterator.requestBuilder = buildRequest;
          orig.set(c, c._doRequest);
          c._doRequest = () => {
            idle.add(c);
            drainBacklog();
          };
        },
      },
      () => finished(),
    );
    instance.on('response', (client, status) => {
      inFlight--;
      if (!(client as unknown as AcClient).tacoMeasured) {
        if (status === 202) warmupAccepted++;
        return;
      }
      if (status === 202) counts.accepted++;
      else {
        counts.rejected++;
        counts.statuses[status] = (counts.statuses[status] ?? 0) + 1;
      }
    });
    instance.on('reqError', (client: unknown) => {
      inFlight--;
      if ((client as AcClient | undefined)?.tacoMeasured !== false) counts.errors++;
    });
    // Let the connections open before the first arrival is due.
    await sleep(100);
  };
  return {
    counts,
    get inFlight() {
      return inFlight + (backlog.length - backlogHead);
    },
    get warmupAccepted() {
      return warmupAccepted;
    },
    setMeasured(measured: boolean): void {
      // Arrivals intended from now on are measured; warm-up ones still queued stay warm-up.
      measuredFrom = measured ? monoMs() : Number.POSITIVE_INFINITY;
    },
    async start(ratePerSec: number, durationMs: number): Promise<void> {
      // A second start (after a warm-up) keeps autocannon's connections: they are warm.
      if (!instance) await open(durationMs);
      const start = monoMs();
      const periodMs = 1000 / ratePerSec;
      const total = Math.floor((ratePerSec * durationMs) / 1000);
      const maxBacklog = o.maxBacklog ?? Math.max(10_000, ratePerSec * 5);
      let issued = 0;
      await new Promise<void>((resolve) => {
        ticker = setInterval(() => {
          const now = monoMs();
          const due = Math.min(total, Math.floor((now - start) / periodMs) + 1);
          for (; issued < due; issued++) {
            const t = start + issued * periodMs;
            if (backlogHead < backlog.length || !dispatch(t)) {
              if (backlog.length - backlogHead >= maxBacklog) {
                if (t >= measuredFrom) counts.dropped++;
              } else backlog.push(t);
            }
          }
          if (issued >= total) {
            clearInterval(ticker);
            resolve();
          }
        }, 1);
      });
    },
    async stop(graceMs: number): Promise<void> {
      if (ticker) clearInterval(ticker);
      const end = monoMs() + graceMs;
      while (this.inFlight > 0 && monoMs() < end) await sleep(20);
      for (let i = backlogHead; i < backlog.length; i++) if (backlog[i]! >= measuredFrom) counts.dropped++;
      backlog.length = 0;
      backlogHead = 0;
      instance?.stop();
      await Promise.race([done, sleep(2_000)]);
    },
  };
}
