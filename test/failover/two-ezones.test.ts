// Issue 6 on embedded engines: two ezones in process, each with its own stores and queue, linked by an
// in-process queue; `taco failover shard/rollback/dns/status` against them while clients push and ACK.
import { after, before, describe, test } from 'node:test';
import { dnsDrill, fleetSettled, shardDrill, startFleet } from './drills.js';
import type { Fleet } from './fleet.js';
import { embeddedEzones, type TwoEzones } from './harness.js';

describe('two ezones, embedded engines', () => {
  let ez: TwoEzones;
  let fleet: Fleet;
  before(async () => {
    ez = await embeddedEzones();
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
