/** Picks the engines for `taco serve`: production ones where a URL is configured, embedded otherwise. */
import type { ServeConfig } from './config-file.js';
import { embeddedEngines, type ServerEngines } from './server.js';

export async function selectServerEngines(
  config: ServeConfig,
  _log: (msg: string) => void,
): Promise<ServerEngines> {
  const { redis, mysql, amqp } = config.engines;
  if (!redis && !mysql && !amqp) return embeddedEngines();
  // Production engines are wired in once src/engines/select.ts lands.
  return embeddedEngines();
}
