/**
 * `taco serve` runs with its node flags (src/server/node-flags.ts): started without them it starts
 * itself again with them, passes signals on, ends as the server ended, and a SIGKILLed launcher
 * does not leave the server holding its ports.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { missingServeFlags, SERVE_NODE_FLAGS } from '../../src/server/node-flags.js';
import { BIN, ROOT } from '../helpers/cli.js';

describe('missingServeFlags', () => {
  test('every flag is missing from a bare command line', () => {
    assert.deepEqual(missingServeFlags([], undefined), [...SERVE_NODE_FLAGS]);
    assert.deepEqual(missingServeFlags(['--max-old-space-size=4096', '--cpu-prof'], ''), [
      ...SERVE_NODE_FLAGS,
    ]);
  });

  test("the caller's own value wins, on node's command line or in NODE_OPTIONS, with - or _", () => {
    assert.deepEqual(missingServeFlags(['--max-semi-space-size=64'], undefined), []);
    assert.deepEqual(missingServeFlags(['--max_semi_space_size=8'], undefined), []);
    assert.deepEqual(missingServeFlags([], '--enable-source-maps  --max-semi-space-size=16'), []);
  });
});

const SERVE = ['serve', '--ws-port', '0', '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn'];

function startServe(nodeArgs: string[] = []): Promise<{ launcher: ChildProcess; stdout: () => string }> {
  const launcher = spawn(
    process.execPath,
    [...nodeArgs, BIN, ...SERVE, '--app', 'relaunch=relaunch-secret-1'],
    {
      cwd: ROOT,
      env: { ...process.env, TACO_NO_RELAUNCH: '', TACO_LAUNCHER_PID: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  launcher.stdout!.on('data', (d) => (out += d));
  launcher.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve not ready in 30 s\n${err}`)), 30_000);
    const check = () => {
      if (!out.includes('"event":"ready"')) return;
      clearTimeout(t);
      launcher.stdout!.off('data', check);
      resolve({ launcher, stdout: () => out });
    };
    launcher.stdout!.on('data', check);
    launcher.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`serve exited (${code}) before ready\n${err}`));
    });
  });
}

function childrenOf(pid: number): number[] {
  const file = `/proc/${pid}/task/${pid}/children`;
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split(/\s+/).filter(Boolean).map(Number);
}

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
const alive = (pid: number) =>
  existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

const exitOf = (p: ChildProcess) =>
  new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) resolve({ code: p.exitCode, signal: p.signalCode });
    else p.once('exit', (code, signal) => resolve({ code, signal }));
  });

describe('taco serve relaunch', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  test('without its flags, serve runs in a child with them; SIGTERM to the launcher stops both, exit 0', async () => {
    const { launcher } = await startServe();
    const [server, ...more] = childrenOf(launcher.pid!);
    assert.ok(server, 'the launcher has a child');
    assert.equal(more.length, 0);
    for (const f of SERVE_NODE_FLAGS) assert.ok(cmdline(server).includes(f), `${f} in ${cmdline(server)}`);
    launcher.kill('SIGTERM');
    assert.deepEqual(await exitOf(launcher), { code: 0, signal: null });
    assert.ok(await until(() => !alive(server), 10_000), 'the server stopped');
  });

  test('a SIGKILLed launcher: the server notices and stops by itself', async () => {
    const { launcher } = await startServe();
    const [server] = childrenOf(launcher.pid!);
    assert.ok(server);
    launcher.kill('SIGKILL');
    await exitOf(launcher);
    assert.ok(await until(() => !alive(server), 15_000), 'the server stopped within 15 s');
  });

  test('with the flag given (any value), serve runs in the process started', async () => {
    const { launcher } = await startServe(['--max-semi-space-size=16']);
    assert.deepEqual(childrenOf(launcher.pid!), []);
    launcher.kill('SIGINT');
    assert.deepEqual(await exitOf(launcher), { code: 0, signal: null });
  });
});
