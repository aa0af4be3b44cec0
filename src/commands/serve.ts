import { Flags } from '@oclif/core';
import pino from 'pino';
import { TacoCommand } from '../cli/base-command.js';
import { openMultiDc } from '../failover/node-wiring.js';
import { autoHttpFront, parseAppFlag, readConfigFile, resolveServeConfig } from '../server/config-file.js';
import { selectServerEngines } from '../server/engines.js';
import { onStopRequest } from '../server/node-flags.js';
import { startServer } from '../server/server.js';
import { MAX_WORKERS, runWorkers } from '../server/workers.js';

export default class Serve extends TacoCommand {
  static override summary = 'Run the gateway, dispatcher and business APIs';
  static override description =
    'Engines come from the config file or TACO_REDIS_URL / TACO_MYSQL_URL / TACO_AMQP_URL, else embedded in-process ones. ' +
    'When every port listens, one JSON line {"event":"ready",...} is printed on stdout; logs go to stderr.';
  static override examples = [
    '<%= config.bin %> serve',
    '<%= config.bin %> serve --app shop=s3cr3t-s3cr3t --ws-port 0 --http-port 0 --grpc-port 0',
  ];

  static override flags = {
    config: Flags.string({ description: 'YAML config file (see docs/operations.md)', env: 'TACO_CONFIG' }),
    app: Flags.string({ description: 'an app as ID=SECRET (repeatable)', multiple: true }),
    'ws-port': Flags.integer({
      description: 'WebSocket port for clients (0 = any free port)',
      min: 0,
      max: 65535,
    }),
    'http-port': Flags.integer({ description: 'HTTP API port (0 = any)', min: 0, max: 65535 }),
    'grpc-port': Flags.integer({ description: 'gRPC API port (0 = any)', min: 0, max: 65535 }),
    host: Flags.string({ description: 'address to listen on' }),
    ezone: Flags.string({ description: 'this node’s ezone (datacenter)' }),
    node: Flags.integer({ description: 'this node’s id, 0-255, unique in the ezone', min: 0, max: 255 }),
    'log-level': Flags.string({
      description: 'log level',
      default: 'info',
      options: ['debug', 'info', 'warn', 'error'],
    }),
    workers: Flags.integer({
      description:
        'gateway processes sharing the ports (node:cluster), each a node of its own with id --node + its index; ' +
        'more than 1 needs shared engines: TACO_REDIS_URL, TACO_MYSQL_URL and TACO_AMQP_URL',
      default: 1,
      min: 1,
      max: MAX_WORKERS,
    }),
    'http-front': Flags.string({
      description:
        'where HTTP API requests are parsed: thread = a worker thread of its own, so the API and the sessions use two cores; ' +
        'inline = the main event loop; auto (default) = thread when the machine has 2+ cores and --workers is 1',
      options: ['auto', 'inline', 'thread'],
    }),
    // Several ezones (docs/drills.md, "Running a live drill"); any of the first three turns it on.
    ezones: Flags.string({
      description: 'every ezone, in shard order (sh,bj): enables multi-ezone mode',
      env: 'TACO_EZONES',
    }),
    'shard-map': Flags.string({
      description: 'shard map store shared by all ezones: mysql://… , a file path, or memory',
      env: 'TACO_SHARD_MAP',
    }),
    peer: Flags.string({
      description:
        'a peer ezone’s broker as EZONE=amqp://… (repeatable): route replication and push hand-off',
      multiple: true,
    }),
    directory: Flags.string({
      description: 'Redis URL of the node directory all ezones share (default: each ezone’s own)',
      env: 'TACO_DIRECTORY_URL',
    }),
    region: Flags.string({
      description: 'initial region → ezone as REGION=EZONE (repeatable)',
      multiple: true,
    }),
    'public-host': Flags.string({
      description: 'host in the addresses this node registers',
      env: 'TACO_PUBLIC_HOST',
    }),
    'admin-token': Flags.string({
      description: 'bearer token the admin API (taco failover) requires',
      env: 'TACO_ADMIN_TOKEN',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Serve);
    const log = pino({ level: flags['log-level'] }, pino.destination(2));
    const file = readConfigFile(flags.config);
    const fromFlags: Record<string, unknown> = {
      node: flags.node,
      ezone: flags.ezone,
      host: flags.host,
      ports: { ws: flags['ws-port'], http: flags['http-port'], grpc: flags['grpc-port'] },
      engines: {
        redis: process.env.TACO_REDIS_URL,
        mysql: process.env.TACO_MYSQL_URL,
        amqp: process.env.TACO_AMQP_URL,
      },
    };
    if (flags.app?.length) fromFlags.apps = flags.app.map(parseAppFlag);
    const front = flags['http-front'] ?? (file.httpFront === undefined ? 'auto' : undefined);
    if (front === 'auto') fromFlags.httpFront = autoHttpFront(flags.workers);
    else if (front) fromFlags.httpFront = front;
    const config = resolveServeConfig(file, fromFlags);
    if (flags.workers > 1) {
      await runWorkers({
        config,
        workers: flags.workers,
        logLevel: flags['log-level'],
        print: (l) => this.log(l),
      });
      return;
    }
    const engines = await selectServerEngines(config, (msg) => log.info(msg));
    const multiDc = await openMultiDc(
      {
        ezones: flags.ezones,
        shardMap: flags['shard-map'],
        peers: flags.peer ?? process.env.TACO_PEERS?.split(',').filter(Boolean),
        directory: flags.directory,
        regions: flags.region,
        publicHost: flags['public-host'],
        adminToken: flags['admin-token'],
      },
      config.ezone,
      (msg) => log.info(msg),
    ).catch(async (e) => {
      await engines.close();
      throw e;
    });
    const server = await startServer({
      config,
      engines,
      multiDc,
      log: (msg, fields) => log.warn(fields ?? {}, msg),
    });
    // Listening for signals before the ready line: a supervisor (or a launcher passing a signal on)
    // may send SIGTERM the moment it reads it, and a signal without a listener kills at once.
    let stopping = false;
    let stopped: () => void = () => {};
    const done = new Promise<void>((resolve) => (stopped = resolve));
    const shutdown = (signal: string) => {
      // A Ctrl-C reaches both a relaunched server and its launcher, which passes it on: once is enough.
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      server.stop().then(stopped, (e) => {
        log.error({ err: e }, 'shutdown failed');
        stopped();
      });
    };
    const stopListening = onStopRequest(shutdown);
    try {
      this.log(JSON.stringify(server.ready));
      await done;
    } finally {
      stopListening();
    }
  }
}
