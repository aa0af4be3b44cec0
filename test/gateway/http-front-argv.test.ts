/**
 * The HTTP front thread under `node --trace-gc …` and other V8 flags: a worker
 * thread refuses per-process options, so the front thread takes only the
 * module-loading and warning options of its parent (src/gateway/http-front.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { workerExecArgv } from '../../src/gateway/http-front.js';

const PARENT = [
  '--trace-gc',
  '--max-old-space-size=4096',
  '--max-semi-space-size=64',
  '--inspect=127.0.0.1:0',
  '--cpu-prof',
  '--enable-source-maps',
  '--import',
  'tsx',
  '--conditions=dev',
  '--no-warnings',
];

test('the front thread keeps the loaders and warning options and drops V8 and process flags', () => {
  assert.deepEqual(workerExecArgv(PARENT), [
    '--enable-source-maps',
    '--import',
    'tsx',
    '--conditions=dev',
    '--no-warnings',
  ]);
  assert.deepEqual(workerExecArgv(['--require']), [], 'a flag missing its value is dropped');
});

function startWorker(execArgv: string[]): Promise<string> {
  return new Promise((resolve) => {
    try {
      const w = new Worker('process.exit(0)', { eval: true, execArgv });
      w.once('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? String(e)));
      w.once('exit', () => resolve('started'));
    } catch (e) {
      resolve((e as NodeJS.ErrnoException).code ?? String(e));
    }
  });
}

test('a worker thread starts with the kept options and refuses the parent’s V8 flags', async () => {
  const v8Flags = ['--trace-gc', '--max-semi-space-size=64'];
  assert.equal(await startWorker(v8Flags), 'ERR_WORKER_INVALID_EXEC_ARGV');
  assert.equal(await startWorker(workerExecArgv([...v8Flags, '--no-warnings'])), 'started');
});
