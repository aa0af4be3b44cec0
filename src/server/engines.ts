/**
 * Picks the engines for `taco serve`: production ones where a URL is configured, embedded otherwise.
 * The MySQL table prefix comes from TACO_MYSQL_PREFIX or the URL's `?tablePrefix=` (taco.yaml's
 * `engines.mysql` URL can carry it); `taco db migrate` reads the same two, so both see the same tables.
 */
import { selectEngines } from '../engines/select.js';
import type { ServeConfig } from './config-file.js';
import type { ServerEngines } from './server.js';

export function selectServerEngines(
  config: ServeConfig,
  log: (msg: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServerEngines> {
  const { redis, mysql, amqp } = config.engines;
  return selectEngines({
    redisUrl: redis,
    mysqlUrl: mysql,
    amqpUrl: amqp,
    tablePrefix: env.TACO_MYSQL_PREFIX || undefined,
    ezone: config.ezone,
    log,
  });
}
