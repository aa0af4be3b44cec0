/**
 * `taco serve --workers N`: N gateway processes on one machine sharing the
 * listening ports (node:cluster; each worker accepts on the shared sockets). Each worker is a node of its own — node id
 * `--node` + its index, its own sessions, its own dispatcher — so more
 * sessions fit on the machine than one process may hold (every process is
 * capped at 20,000 open files here).
 *
 * A push accepted by one worker may target a device signed in on another, so
 * workers share their engines (routes and the node directory in Redis,
 * messages in MySQL, the queue in RabbitMQ) and deliver to each other over
 * the internal gRPC peer service. The gRPC port is shared like the others, so
 * each worker also listens on a port of its own (exclusively, not through the
 * primary), hands those connections to its gRPC server, and registers that
 * address under its node id. With embedded engines N > 1 is refused:
 * per-process stores would lose ACKs and routes.
 *
 * Lifecycle: the primary forks the workers, sends each its settings over IPC,
 * prints one `{"event":"ready",…}` line when all listen, restarts a worker
 * that dies (same index, same node id), and on SIGINT/SIGTERM tells every
 * worker to drain and exit. A worker whose primary is gone stops by itself.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { createServer, type Server as NetServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { TacoError } from '../core/errors.js';
import type { ServeConfig } from './config-file.js';
import { selectServerEngines } from './engines.js';
import { onStopRequest } from './node-flags.js';
import { type ReadyInfo, type RunningServer, startServer } from './server.js';

export const MAX_WORKERS = 64;

export interface WorkersOptions {
  config: ServeConfig;
  workers: number;
  /** Log level of every process. */
  logLevel: string;
  /** Prints the one ready line on stdout. */
  print: (line: string) => void;
}

export interface WorkersReady extends ReadyInfo {
  workers: number;
  nodes: number[];
  /** Internal gRPC peer address of each worker, by node id. */
  peers: Record<string, string>;
}

type ToWorker = { type: 'start'; config: ServeConfig; index: number; logLevel: string } | { type: 'stop' };
type FromWorker =
  | { type: 'listening' }
  | { type: 'ready'; ready: ReadyInfo; peer: string }
  | { type: 'failed'; message: string; code: string; userError: boolean };

/** Checks that N workers can run with this configuration; throws BAD_INPUT naming what is missing. */
export function checkWorkers(config: ServeConfig, workers: number): void {
  if (workers > 1 && config.httpFront === 'thread')
    throw new TacoError(
      'BAD_INPUT',
      `--http-front thread needs --workers 1 (got ${workers}): the worker processes share the HTTP port through node:cluster, a front thread cannot`,
    );
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS)
    throw new TacoError('BAD_INPUT', `--workers ${workers}: must be 1..${MAX_WORKERS}`);
  if (config.node + workers - 1 > 255)
    throw new TacoError(
      'BAD_INPUT',
      `--workers ${workers} with --node ${config.node}: worker node ids ${config.node}..${config.node + workers - 1} exceed 255`,
    );
  if (workers === 1) return;
  const missing = [
    config.engines.redis ? undefined : 'TACO_REDIS_URL (routes and the node directory)',
    config.engines.mysql ? undefined : 'TACO_MYSQL_URL (messages)',
    config.engines.amqp ? undefined : 'TACO_AMQP_URL (the push and upstream queues)',
  ].filter(Boolean);
  if (missing.length)
    throw new TacoError(
      'BAD_INPUT',
      `--workers ${workers}: every worker is a node of its own, so the workers must share their engines; ` +
        `set ${missing.join(', ')} (or engines: in the config file). ` +
        'With the embedded in-process engines run a single process (--workers 1).',
    );
}

// ---------------------------------------------------------------- primary

/** Runs the primary: resolves once every worker has exited after a shutdown signal. */
export async function runWorkers(o: WorkersOptions): Promise<void> {
  checkWorkers(o.config, o.workers);
  const log = pino({ level: o.logLevel, base: { role: 'primary' } }, pino.destination(2));
  let config = o.config;
  if (config.apps.length === 0) {
    // One generated app for all workers (each would otherwise make up its own secret).
    const demo = { id: 'demo', secret: randomBytes(18).toString('base64url') };
    config = { ...config, apps: [demo] };
    log.warn(
      { app: demo.id, secret: demo.secret },
      'no apps configured: created app "demo" for this run; pass --app ID=SECRET to choose your own',
    );
  }
  // Workers accept on the shared sockets themselves (the kernel spreads connections), unless
  // NODE_CLUSTER_SCHED_POLICY says otherwise. Round-robin through the primary costs an IPC round
  // trip per connection: on a busy 2-core machine that capped sign-ins at ~100/s for 7 workers,
  // against ~200/s without it, and 100,000 sessions spread within ±6% over the workers anyway.
  if (!process.env.NODE_CLUSTER_SCHED_POLICY) cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: fileURLToPath(import.meta.url), args: [] });
  const workers = new Map<number, Worker>();
  const readies = new Map<number, { ready: ReadyInfo; peer: string }>();
  const restarts: number[] = [];
  let stopping = false;
  let printed = false;

  const firstReady = new Promise<void>((resolve, reject) => {
    const check = () => {
      if (readies.size === o.workers && !printed) {
        printed = true;
        resolve();
      }
    };
    const start = (index: number) => {
      const w = cluster.fork({ TACO_WORKER_INDEX: String(index) });
      workers.set(index, w);
      w.on('message', (m: FromWorker) => {
        // The worker asks for its settings once its module has loaded (a message sent earlier would be lost).
        if (m.type === 'listening')
          w.send({ type: 'start', config, index, logLevel: o.logLevel } satisfies ToWorker);
        else if (m.type === 'ready') {
          readies.set(index, { ready: m.ready, peer: m.peer });
          check();
        } else if (m.type === 'failed') {
          const e = new TacoError(m.userError ? 'BAD_INPUT' : 'INTERNAL', `worker ${index}: ${m.message}`);
          if (!printed) reject(e);
          else log.error({ worker: index }, e.message);
        }
      });
      w.on('exit', (code, signal) => {
        workers.delete(index);
        readies.delete(index);
        if (stopping) return;
        if (!printed) {
          reject(new TacoError('INTERNAL', `worker ${index} exited before it was ready (${signal ?? code})`));
          return;
        }
        const now = Date.now();
        restarts.push(now);
        while (restarts.length && restarts[0]! < now - 60_000) restarts.shift();
        if (restarts.length > 5) {
          log.error('more than 5 worker restarts within a minute: giving up');
          void shutdown('restart-loop');
          return;
        }
        log.error({ worker: index, node: config.node + index, code, signal }, 'worker died; restarting it');
        setTimeout(() => {
          if (!stopping) start(index);
        }, 1_000).unref();
      });
    };
    for (let i = 0; i < o.workers; i++) start(i);
  });

  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => (resolveDone = r));
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, 'stopping workers');
    const exits = [...workers.values()].map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          const t = setTimeout(() => {
            w.process.kill('SIGKILL');
            resolve();
          }, 15_000);
          w.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          try {
            w.send({ type: 'stop' } satisfies ToWorker);
          } catch {
            w.process.kill('SIGTERM');
          }
        }),
    );
    await Promise.all(exits);
    resolveDone();
  };
  // A terminal's Ctrl-C reaches every process of the group; workers ignore it and wait for our 'stop'.
  // Listeners stay until we are done (`shutdown` runs once): a relaunched primary gets a Ctrl-C
  // twice, from the terminal and from its launcher (node-flags.ts).
  const stopListening = onStopRequest((why) => void shutdown(why));
  void done.then(stopListening);

  try {
    await firstReady;
  } catch (e) {
    await shutdown('start failed');
    throw e;
  }
  const all = [...readies.entries()].sort((a, b) => a[0] - b[0]);
  const first = all[0]![1].ready;
  const info: WorkersReady = {
    ...first,
    workers: o.workers,
    nodes: all.map(([, r]) => r.ready.node),
    peers: Object.fromEntries(all.map(([, r]) => [String(r.ready.node), r.peer])),
  };
  o.print(JSON.stringify(info));
  await done;
}

// ---------------------------------------------------------------- worker

/** Listens on host:0 in this process only (not shared through the cluster primary). */
function listenExclusive(server: NetServer, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
}

async function workerMain(): Promise<void> {
  const msg = await new Promise<ToWorker & { type: 'start' }>((resolve) => {
    const on = (m: ToWorker) => {
      if (m.type === 'start') {
        process.off('message', on);
        resolve(m);
      }
    };
    process.on('message', on);
    process.send?.({ type: 'listening' } satisfies FromWorker);
  });
  const index = msg.index;
  const config: ServeConfig = { ...msg.config, node: msg.config.node + index };
  const log = pino({ level: msg.logLevel, base: { worker: index, node: config.node } }, pino.destination(2));
  const send = (m: FromWorker) => process.send?.(m);
  let running: RunningServer | undefined;
  let peerNet: NetServer | undefined;
  let stopped = false;
  const stop = async (code: number) => {
    if (stopped) return;
    stopped = true;
    try {
      await running?.stop();
    } catch (e) {
      log.error({ err: e }, 'stop failed');
    }
    peerNet?.close();
    process.exit(code);
  };
  process.on('SIGINT', () => {}); // the primary decides when we stop
  process.on('SIGTERM', () => void stop(0));
  process.on('message', (m: ToWorker) => {
    if (m.type === 'stop') void stop(0);
  });
  process.on('disconnect', () => void stop(0));
  try {
    const engines = await selectServerEngines(config, (m) => log.info(m));
    let peer = '';
    running = await startServer({
      config,
      engines,
      log: (m, fields) => log.warn(fields ?? {}, m),
      // The gRPC port is shared by every worker; peers must reach this one.
      peerAddress: async (grpcServer) => {
        const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
        peerNet = createServer((socket) => injector.injectConnection(socket));
        peer = `${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${await listenExclusive(peerNet, config.host)}`;
        return peer;
      },
    });
    log.info({ peer, ...running.ready }, 'worker ready');
    send({ type: 'ready', ready: running.ready, peer });
  } catch (e) {
    const err = e instanceof TacoError ? e : new TacoError('INTERNAL', (e as Error).message);
    send({
      type: 'failed',
      message: err.message,
      code: err.code,
      userError: err.cls === 'user' || err.code === 'BAD_INPUT',
    });
    await new Promise((r) => setTimeout(r, 100));
    await stop(err.cls === 'user' || err.code === 'BAD_INPUT' ? 2 : 3);
  }
}

if (cluster.isWorker && process.env.TACO_WORKER_INDEX !== undefined) void workerMain();
