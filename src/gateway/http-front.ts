/**
 * The business API's HTTP front in a worker thread (`taco serve --http-front thread`).
 *
 * Node's HTTP server costs ~100 µs of CPU per request on the bench machine (bench/http-floor.mjs),
 * more than the push behind it. With the front in its own thread, the event loop that holds the
 * sessions only sees parsed, validated pushes, and the two halves use both cores. The thread owns
 * the public port: it reads, parses and validates `POST /v1/push` bodies (src/core/send-request.ts,
 * the same code as the inline API) and posts them here in batches; every other route it proxies to
 * the inline HttpApi, which listens on an internal loopback port. Authentication and the send stay
 * on the main thread (the auth cache and the dispatcher live there).
 *
 * One thread at most: Node 20 cannot share a listening port between threads of one process; more
 * processes are `--workers`, whose HTTP ports node:cluster shares (they keep the inline API).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type ErrorCode, TacoError } from '../core/errors.js';
import type { SendRequest } from '../core/send-request.js';
import type { HttpApi } from './http-api.js';
import { errorReply, type Reply } from './http-io.js';

const here = fileURLToPath(import.meta.url);
const THREAD = join(dirname(here), `http-front-thread${here.endsWith('.ts') ? '.ts' : '.js'}`);

export interface FrontThreadData {
  host: string;
  port: number;
  backlog: number;
  /** Where the inline API listens, for the routes the front proxies. */
  internalPort: number;
  /** A forwarded push not answered by then is answered 503 (the main thread is stuck or gone). */
  answerTimeoutMs: number;
}

/** `[request id, Authorization header, validated body, or the body's error as [code, message]]`. */
export type ForwardedPush = [
  number,
  string | undefined,
  SendRequest | undefined,
  [ErrorCode, string] | undefined,
];
export type AnsweredPush = [number, Reply];

export type FrontToMain =
  | { type: 'listening'; port: number }
  | { type: 'listen-error'; message: string }
  | { type: 'pushes'; list: ForwardedPush[] }
  | { type: 'closed' };
export type MainToFront = { type: 'answers'; list: AnsweredPush[] } | { type: 'close' };

export interface HttpFrontOptions {
  api: HttpApi;
  host: string;
  backlog: number;
  answerTimeoutMs?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export class HttpFront {
  private worker: Worker | undefined;
  private port = 0;
  private internalPort = 0;
  private closing = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private answers: AnsweredPush[] = [];
  private flushImmediate: NodeJS.Immediate | undefined;

  constructor(private readonly o: HttpFrontOptions) {}

  /**
   * Starts the thread listening on `port` (0 = any) in front of the inline API listening on
   * 127.0.0.1:`internalPort`; resolves with the port it got.
   */
  async listen(port: number, internalPort: number): Promise<number> {
    this.internalPort = internalPort;
    this.port = await this.start(port);
    return this.port;
  }

  private start(port: number): Promise<number> {
    const data: FrontThreadData = {
      host: this.o.host,
      port,
      backlog: this.o.backlog,
      internalPort: this.internalPort,
      answerTimeoutMs: this.o.answerTimeoutMs ?? 30_000,
    };
    const execArgv = workerExecArgv(process.execArgv);
    // From sources (the tests) the thread registers tsx's loader first; Node 20 does not pass
    // the parent's loader hooks to a worker thread.
    const w = THREAD.endsWith('.ts')
      ? new Worker(
          `import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(pathToFileURL(THREAD).href)}); })`,
          { eval: true, workerData: data, execArgv },
        )
      : new Worker(THREAD, { workerData: data, execArgv });
    this.worker = w;
    return new Promise<number>((resolve, reject) => {
      let listening = false;
      w.on('message', (m: FrontToMain) => {
        if (m.type === 'pushes') this.onPushes(w, m.list);
        else if (m.type === 'listening') {
          listening = true;
          resolve(m.port);
        } else if (m.type === 'listen-error') reject(new TacoError('BAD_INPUT', m.message));
      });
      w.on('error', (e) => {
        if (!listening)
          reject(new TacoError('INTERNAL', `HTTP front thread: ${e.message}`, undefined, { cause: e }));
        else this.o.log?.('HTTP front thread failed', { err: e.message });
      });
      w.on('exit', (code) => {
        if (this.worker === w) {
          this.worker = undefined;
          // Its request ids mean nothing to the next thread, which counts from 1 again.
          this.answers = [];
        }
        if (!listening || this.closing) return;
        // Requests on the dead thread's connections are lost with them; new ones get a new thread.
        this.o.log?.('HTTP front thread exited; starting another in 1 s', { code });
        this.restartTimer = setTimeout(() => {
          this.restartTimer = undefined;
          if (this.closing) return;
          this.start(this.port).catch((e: Error) =>
            this.o.log?.('HTTP front thread did not restart', { err: e.message }),
          );
        }, 1000);
      });
    });
  }

  private onPushes(from: Worker, list: ForwardedPush[]): void {
    for (const [id, header, body, error] of list) {
      this.o.api.sendParsed(header, error ? new TacoError(error[0], error[1]) : (body as SendRequest)).then(
        (ids) => this.answer(from, id, { status: 202, text: JSON.stringify({ ids }), retryAfter: false }),
        (e) => this.answer(from, id, errorReply(e)),
      );
    }
  }

  /** Answers of one event-loop turn go to the thread in one message; a replaced thread's are dropped. */
  private answer(from: Worker, id: number, r: Reply): void {
    if (from !== this.worker) return;
    this.answers.push([id, r]);
    this.flushImmediate ??= setImmediate(() => this.flush());
  }

  private flush(): void {
    if (this.flushImmediate) clearImmediate(this.flushImmediate);
    this.flushImmediate = undefined;
    const list = this.answers;
    this.answers = [];
    if (list.length) this.post({ type: 'answers', list });
  }

  private post(m: MainToFront): void {
    this.worker?.postMessage(m);
  }

  /** Stops accepting, cuts the front's connections after the answers in hand, ends the thread. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.restartTimer);
    const w = this.worker;
    if (!w) return;
    this.flush();
    await new Promise<void>((resolve) => {
      // A thread that does not confirm within 5 s is ended anyway.
      const limit = setTimeout(() => void w.terminate(), 5000);
      w.once('exit', () => {
        clearTimeout(limit);
        resolve();
      });
      w.on('message', (m: FrontToMain) => {
        if (m.type === 'closed') void w.terminate();
      });
      this.post({ type: 'close' });
    });
  }
}

const WITH_VALUE = new Set([
  '--import',
  '--loader',
  '--experimental-loader',
  '--require',
  '-r',
  '--conditions',
  '-C',
]);
const KEPT =
  /^--(import|loader|experimental-loader|require|conditions)=|^--(enable-source-maps|no-warnings|no-deprecation|pending-deprecation|trace-warnings|trace-uncaught|experimental-[\w-]+)$/;

/**
 * The parent's Node options a worker thread may take: module loading and warnings. V8 and
 * per-process flags (`--trace-gc`, `--max-old-space-size`, `--inspect`, `--cpu-prof` …) make
 * `new Worker` throw ERR_WORKER_INVALID_EXEC_ARGV or belong to the process, so they stay with it.
 */
export function workerExecArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (WITH_VALUE.has(a)) {
      if (i + 1 < argv.length) out.push(a, argv[++i]!);
    } else if (KEPT.test(a)) out.push(a);
  }
  return out;
}
