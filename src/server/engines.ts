/** Picks the engines for `taco serve`: production ones where a URL is configured, embedded otherwise. */
import { selectEngines } from '../engines/select.js';
import type { ServeConfig } from './config-file.js';
import type { ServerEngines } from './server.js';

export function selectServerEngines(config: ServeConfig, log: (msg: string) => void): Promise<ServerEngines> {
  const { redis, mysql, amqp } = config.engines;
  return selectEngines({ redisUrl: redis, mysqlUrl: mysql, amqpUrl: amqp, ezone: config.ezone, log });
}
