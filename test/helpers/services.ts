/**
 * The real services engine tests run against: Redis on 127.0.0.1:6379,
 * MariaDB/MySQL on :3306 (root, no password, database `test`), RabbitMQ on
 * :5672 (guest/guest), a Redis Cluster of 3 masters on :7000-7002. URLs can be
 * overridden with TACO_TEST_REDIS_URL, TACO_TEST_MYSQL_URL, TACO_TEST_AMQP_URL,
 * TACO_TEST_REDIS_CLUSTER_URL. The cluster counts as answering only once every
 * node listed says `cluster_state:ok`.
 *
 * A service that does not answer makes its tests skip — unless
 * TACO_REQUIRE_SERVICES=1, in which case `service()` throws and the test file
 * fails with a message saying what is missing and how to start it.
 */
import { execFile } from 'node:child_process';
import { createConnection } from 'node:net';
import { promisify } from 'node:util';
import { parseRedisUrl } from '../../src/engines/redis/client.js';

export type ServiceName = 'redis' | 'mysql' | 'amqp' | 'redis-cluster';

const DEFAULTS: Record<ServiceName, { url: string; env: string; label: string }> = {
  redis: { url: 'redis://127.0.0.1:6379', env: 'TACO_TEST_REDIS_URL', label: 'Redis' },
  'redis-cluster': {
    url: 'redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002',
    env: 'TACO_TEST_REDIS_CLUSTER_URL',
    label: 'Redis Cluster',
  },
  mysql: { url: 'mysql://root@127.0.0.1:3306/test', env: 'TACO_TEST_MYSQL_URL', label: 'MariaDB/MySQL' },
  amqp: { url: 'amqp://guest:guest@127.0.0.1:5672', env: 'TACO_TEST_AMQP_URL', label: 'RabbitMQ' },
};

export type ServiceProbe = { url: string; skip: false } | { url: undefined; skip: string };

function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  const fallback = u.protocol.startsWith('redis') ? 6379 : u.protocol.startsWith('mysql') ? 3306 : 5672;
  return { host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : fallback };
}

/** Whether something accepts TCP connections on host:port within `timeoutMs`. */
export function probeTcp(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Whether the Redis node on host:port answers CLUSTER INFO with cluster_state:ok within `timeoutMs`. */
export function probeRedisClusterNode(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port });
    let reply = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => sock.write('CLUSTER INFO\r\n'));
    sock.on('data', (d) => {
      reply += String(d);
      const m = /cluster_state:(\w+)/.exec(reply);
      if (m) done(m[1] === 'ok');
      else if (reply.startsWith('-')) done(false); // e.g. "ERR This instance has cluster support disabled"
    });
    sock.once('error', () => done(false));
    sock.once('close', () => done(false));
  });
}

async function answers(name: ServiceName, url: string): Promise<{ ok: boolean; where: string }> {
  if (name === 'redis-cluster') {
    const { nodes } = parseRedisUrl(url);
    const oks = await Promise.all(nodes.map((n) => probeRedisClusterNode(n.host, n.port)));
    return {
      ok: oks.every(Boolean),
      where: `${nodes.map((n) => `${n.host}:${n.port}`).join(',')} (with cluster_state:ok)`,
    };
  }
  const { host, port } = hostPort(url);
  return { ok: await probeTcp(host, port), where: `${host}:${port}` };
}

export const servicesRequired = (): boolean => process.env.TACO_REQUIRE_SERVICES === '1';

/** The URL of a running service, or a skip reason (throws instead when TACO_REQUIRE_SERVICES=1). */
export async function service(name: ServiceName): Promise<ServiceProbe> {
  const d = DEFAULTS[name];
  const url = process.env[d.env] ?? d.url;
  const { ok, where } = await answers(name, url);
  if (ok) return { url, skip: false };
  const what = `${d.label} is not answering on ${where}`;
  if (servicesRequired())
    throw new Error(
      `${what}, and TACO_REQUIRE_SERVICES=1 requires it. Start it with scripts/ensure-services.sh (or set ${d.env}).`,
    );
  return { url: undefined, skip: `${what} (set TACO_REQUIRE_SERVICES=1 to fail instead of skipping)` };
}

/** A prefix unique to this test process, valid as a Redis key prefix, table prefix and queue prefix. */
export function runPrefix(tag: string): string {
  const rnd = Math.floor(Math.random() * 36 ** 4).toString(36);
  return `t_${tag}_${process.pid.toString(36)}${rnd}_`.slice(0, 30);
}

const run = promisify(execFile);

/** Runs an admin command (rabbitmqctl, redis-cli…) with a deadline; rejects with its stderr on failure. */
export async function admin(cmd: string, args: string[], timeoutMs = 30_000): Promise<string> {
  const { stdout } = await run(cmd, args, { timeout: timeoutMs });
  return stdout;
}

/** Whether an admin command is installed (restart tests skip without it). */
export async function hasCommand(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${cmd}`], { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

export const longTests = (): boolean => process.env.TACO_LONG_TESTS === '1';
