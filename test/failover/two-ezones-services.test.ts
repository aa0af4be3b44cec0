// Issue 6 on the real services: two ezones on loopback, each with its own Redis database, MySQL schema and
// RabbitMQ vhost; the shard map (MySQL) and the node directory (Redis) shared; cross-ezone calls over gRPC.
// Skipped when a service is missing, unless TACO_REQUIRE_SERVICES=1.
import { after, before, describe, test } from 'node:test';
import { hasCommand, service, servicesRequired } from '../helpers/services.js';
import { dnsDrill, fleetSettled, shardDrill, startFleet } from './drills.js';
import type { Fleet } from './fleet.js';
import { serviceEzones, type TwoEzones } from './harness.js';

const [redis, mysql, amqp] = await Promise.all([service('redis'), service('mysql'), service('amqp')]);
const ctl = await hasCommand('rabbitmqctl');
if (!ctl && servicesRequired()) throw new Error('rabbitmqctl is required to create a vhost per ezone');
const skip =
  redis.skip || mysql.skip || amqp.skip || (ctl ? false : 'rabbitmqctl is not installed (a vhost per ezone)');

describe('two ezones on Redis, MariaDB and RabbitMQ', { skip }, () => {
  let ez: TwoEzones;
  let fleet: Fleet;
  before(async () => {
    ez = await serviceEzones({ redis: redis.url!, mysql: mysql.url!, amqp: amqp.url! });
    fleet = startFleet(ez, 30);
    await fleetSettled(ez, fleet);
  });
  after(async () => {
    fleet?.stop();
    await ez?.stop();
  });

  test('failover shard 0-14 --to bj while pushing: 0 lost, ACKs land home, routes converge; rollback restores', {
    timeout: 90_000,
  }, async () => {
    await shardDrill(ez, fleet);
  });

  test('failover dns sh --to bj drains sh’s clients to bj within the SLO while admission control holds', {
    timeout: 90_000,
  }, async () => {
    await dnsDrill(ez, fleet);
  });
});
