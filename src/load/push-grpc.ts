/**
 * Pushes through the gRPC API (`taco.v1.Push/Send`) from a pool of worker
 * threads, each with its own channel and its share of the rate. Counts are
 * summed over threads.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { monoMs, sleep } from './clock.js';
import {
  addCounts,
  emptyCounts,
  type PushDriver,
  type PushDriverCounts,
  type PushTarget,
} from './push-driver.js';
import type { GrpcThreadData, GrpcThreadMessage } from './push-grpc-thread.js';

const here = fileURLToPath(import.meta.url);
const THREAD = join(dirname(here), `push-grpc-thread${here.endsWith('.ts') ? '.ts' : '.js'}`);

export interface GrpcPushOptions extends PushTarget {
  address: string;
  threads: number;
  maxInFlight?: number;
  deadlineMs?: number;
}

export function grpcPushDriver(o: GrpcPushOptions): PushDriver {
  let workers: Worker[] = [];
  let latest: { counts: PushDriverCounts; inFlight: number; issuing: boolean }[] = [];
  /** Counts of the measured threads of earlier starts. */
  let base = emptyCounts();
  let warmupAccepted = 0;
  /** Whether the threads now running push measured pushes. */
  let running = o.spec.measured;
  const sumCounts = (): PushDriverCounts =>
    running ? latest.reduce((a, l) => addCounts(a, l.counts), base) : base;
  const stopThreads = async (graceMs: number) => {
    const end = monoMs() + graceMs;
    while (latest.reduce((a, l) => a + l.inFlight, 0) > 0 && monoMs() < end) await sleep(20);
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => void w.terminate().then(() => resolve()), 2_000);
            w.on('message', (m: GrpcThreadMessage) => {
              if (m.type === 'done') {
                clearTimeout(t);
                void w.terminate().then(() => resolve());
              }
            });
            w.postMessage({ type: 'stop' });
          }),
      ),
    );
    if (running) base = sumCounts();
    else warmupAccepted += latest.reduce((a, l) => a + l.counts.accepted, 0);
    latest = [];
    workers = [];
  };
  return {
    get counts() {
      return sumCounts();
    },
    get inFlight() {
      return latest.reduce((a, l) => a + l.inFlight, 0);
    },
    get warmupAccepted() {
      return warmupAccepted + (running ? 0 : latest.reduce((a, l) => a + l.counts.accepted, 0));
    },
    setMeasured(measured: boolean): void {
      o.spec.measured = measured; // the threads of the next start take it
    },
    async start(ratePerSec: number, durationMs: number): Promise<void> {
      // Each start has threads of its own (they take the body spec when they start).
      if (workers.length) await stopThreads(2_000);
      running = o.spec.measured;
      const n = Math.max(1, o.threads);
      await Promise.all(
        Array.from({ length: n }, (_, i) => {
          const data: GrpcThreadData = {
            address: o.address,
            app: o.app,
            secret: o.secret,
            spec: o.spec,
            ratePerSec: ratePerSec / n,
            durationMs,
            maxInFlight: Math.ceil((o.maxInFlight ?? Math.max(10_000, ratePerSec * 5)) / n),
            deadlineMs: o.deadlineMs ?? 10_000,
          };
          // Worker threads take the parent's loader flags (tsx under tests) from process.execArgv.
          const w = new Worker(THREAD, {
            workerData: data,
            execArgv: process.execArgv.filter((a) => !/^--(inspect|cpu-prof)/.test(a)),
          });
          workers.push(w);
          latest[i] = { counts: emptyCounts(), inFlight: 0, issuing: true };
          return new Promise<void>((resolve, reject) => {
            w.on('message', (m: GrpcThreadMessage) => {
              if (m.type === 'counts') {
                latest[i] = { counts: m.counts, inFlight: m.inFlight, issuing: m.issuing };
                if (!m.issuing) resolve();
              }
            });
            w.on('error', reject);
            w.on('exit', () => resolve());
          });
        }),
      );
    },
    async stop(graceMs: number): Promise<void> {
      await stopThreads(graceMs);
    },
  };
}
