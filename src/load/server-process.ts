/**
 * Starts a server as a child process and waits for its one-line JSON ready
 * event on stdout: `taco serve` itself (bench, agreement test), the bare-ws
 * reference (bench/reference-server.mjs) or the in-process push driver
 * (inproc-server.ts). Every child is killed when `stop` is called or when
 * this process exits.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TacoError } from '../core/errors.js';
import { SERVE_NODE_FLAGS } from '../server/node-flags.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const TACO_BIN = `${REPO_ROOT}bin/run.js`;

export interface ServerProcess<R> {
  child: ChildProcess;
  pid: number;
  ready: R;
  stderr(): string;
  /** Resident memory of the process now (bytes), from /proc. */
  rssBytes(): number;
  /** CPU seconds (user + system) the process has used, from /proc. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function procRssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

export function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of /proc/PID/stat (11 and 12 after the command name)
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Spawns `argv` (node script + args) or forks a module, resolving on the first JSON line with `event: "ready"`. */
export function startServerProcess<R extends { event: string }>(
  what: string,
  opts: {
    module: string;
    args: string[];
    execArgv?: string[];
    ipc?: boolean;
    env?: Record<string, string>;
    timeoutMs?: number;
  },
): Promise<ServerProcess<R>> {
  const execArgv = opts.execArgv ?? [];
  const child = opts.ipc
    ? fork(opts.module, opts.args, {
        execArgv,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        env: { ...process.env, ...opts.env },
      })
    : spawn(process.execPath, [...execArgv, opts.module, ...opts.args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...opts.env },
      });
  live.add(child);
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
    if (err.length > 64_000) err = err.slice(-32_000);
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new TacoError(
          'INTERNAL',
          `${what} did not get ready within ${(opts.timeoutMs ?? 30_000) / 1000} s\n${err}`,
        ),
      );
    }, opts.timeoutMs ?? 30_000);
    child.on('exit', (code) => {
      live.delete(child);
      clearTimeout(timer);
      reject(new TacoError('INTERNAL', `${what} exited (${code}) before it was ready\n${err}`));
    });
    child.stdout!.on('data', (d) => {
      out += d;
      for (;;) {
        const nl = out.indexOf('\n');
        if (nl < 0) return;
        const line = out.slice(0, nl).trim();
        out = out.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        let ready: R;
        try {
          ready = JSON.parse(line) as R;
        } catch {
          continue;
        }
        if (ready.event !== 'ready') continue;
        clearTimeout(timer);
        const pid = child.pid!;
        resolve({
          child,
          pid,
          ready,
          stderr: () => err,
          rssBytes: () => procRssBytes(pid),
          cpuSeconds: () => procCpuSeconds(pid),
          stop: () =>
            new Promise<void>((res) => {
              if (child.exitCode !== null || child.signalCode !== null) return res();
              const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
              child.once('exit', () => {
                clearTimeout(kill);
                res();
              });
              child.kill('SIGTERM');
            }),
        });
        return;
      }
    });
  });
}

export interface ServeReady {
  event: 'ready';
  ws: number;
  http: number;
  grpc: number;
  node: number;
  apps: string[];
}

/** `taco serve` (the built binary) on port 0 with the given extra flags. */
export function startTacoServe(
  args: string[],
  opts: { env?: Record<string, string>; execArgv?: string[] } = {},
) {
  return startServerProcess<ServeReady>('taco serve', {
    module: TACO_BIN,
    args: ['serve', '--ws-port', '0', '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn', ...args],
    ...opts,
    // With serve's node flags given here it does not relaunch itself: the pid measured is the server's.
    execArgv: [...(opts.execArgv ?? []), ...SERVE_NODE_FLAGS],
  });
}
