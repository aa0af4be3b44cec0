/** `--help` explains every flag; bad flags and bad input exit 2 with a message naming them. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import LoadCalibrate from '../../src/commands/load/calibrate.js';
import LoadConnect from '../../src/commands/load/connect.js';
import LoadPush from '../../src/commands/load/push.js';
import LoadStorm from '../../src/commands/load/storm.js';
import Serve from '../../src/commands/serve.js';
import { taco } from '../helpers/cli.js';
import { load } from './harness.js';

const commands = { connect: LoadConnect, push: LoadPush, storm: LoadStorm, calibrate: LoadCalibrate };
const target = [
  '--app',
  'load',
  '--secret',
  'load-secret-123',
  '--url',
  'http://127.0.0.1:9',
  '--ws-url',
  'ws://127.0.0.1:9/v1/connect',
];

describe('taco load usage', () => {
  test('--help of every load command lists and explains every flag', async () => {
    await Promise.all(
      Object.entries(commands).map(async ([name, cmd]) => {
        const r = await load([name, '--help']);
        assert.equal(r.code, 0, r.stderr);
        for (const [flag, def] of Object.entries(cmd.flags)) {
          assert.ok(r.stdout.includes(`--${flag}`), `load ${name}: --${flag} missing from help`);
          assert.ok(
            (def as { description?: string }).description,
            `load ${name}: --${flag} has no description`,
          );
        }
        assert.ok(r.stdout.includes('--json'), `load ${name}: --json missing`);
      }),
    );
  });

  test('serve --help explains --workers', async () => {
    const r = await taco(['serve', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--workers/);
    assert.ok(Serve.flags.workers.description);
  });

  const bad: [string, string[], RegExp][] = [
    ['an unknown flag', ['connect', ...target, '--bogus'], /bogus/],
    ['a zero rate', ['push', ...target, '--rate', '0'], /rate/],
    ['a malformed duration', ['push', ...target, '--duration', '5x'], /--duration/],
    ['a duration beyond the bound', ['connect', ...target, '--hold', '2h'], /--hold/],
    ['zero clients', ['storm', ...target, '--clients', '0'], /clients/],
    ['too many sockets per process', ['connect', ...target, '--per-process', '20000'], /per-process/],
    ['an unknown API', ['push', ...target, '--api', 'smtp'], /api/],
    [
      'a server off this machine',
      ['connect', ...target.slice(0, 4), '--url', 'http://10.1.2.3:8080'],
      /loopback/,
    ],
    [
      'a ws URL that is not one',
      ['connect', ...target.slice(0, 6), '--ws-url', 'http://127.0.0.1:9'],
      /--ws-url/,
    ],
    ['no app', ['connect', '--secret', 's3cr3t-s3cr3t'], /app/],
  ];
  test('bad flags and bad input exit 2, naming what was wrong', async () => {
    await Promise.all(
      bad.map(async ([what, args, re]) => {
        const r = await load(args);
        assert.equal(r.code, 2, `${what}: ${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, re, what);
      }),
    );
  });

  test('serve --workers 2 with the embedded engines is refused, naming the engine URLs to set', async () => {
    const r = await taco(
      ['serve', '--workers', '2', '--ws-port', '0', '--http-port', '0', '--grpc-port', '0'],
      {
        env: { TACO_REDIS_URL: '', TACO_MYSQL_URL: '', TACO_AMQP_URL: '' },
      },
    );
    assert.equal(r.code, 2, r.stderr);
    for (const v of ['TACO_REDIS_URL', 'TACO_MYSQL_URL', 'TACO_AMQP_URL'])
      assert.match(r.stderr, new RegExp(v));
  });

  test('clients that cannot all sign in within --connect-timeout fail the check: exit 1', async () => {
    const r = await load(['connect', ...target, '--clients', '5', '--connect-timeout', '2s', '--hold', '0s']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /signing in 5 clients/);
  });
});
