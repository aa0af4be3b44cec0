import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { MessageRecord } from '../../src/core/ports.js';
import {
  canTransition,
  isDelivered,
  isSettled,
  MESSAGE_STATUSES,
  type MessageStatus,
} from '../../src/core/status.js';
import { MemoryMessageStore } from '../../src/engines/embedded/message-store.js';
import { FC_SEED } from '../helpers/core-harness.js';

fc.configureGlobal({ seed: FC_SEED });

const status = fc.constantFrom(...MESSAGE_STATUSES);
const DELIVERED: MessageStatus[] = ['delivered', 'displayed', 'opened'];

describe('status transitions', () => {
  test('no sequence of allowed moves leaves a delivered state backwards', () => {
    fc.assert(
      fc.property(status, fc.array(status, { maxLength: 40 }), (start, moves) => {
        let cur = start;
        let wasDelivered = isDelivered(cur);
        const seen = [cur];
        for (const next of moves) {
          if (!canTransition(cur, next)) continue;
          assert.notEqual(next, cur, 'a transition to the same status');
          assert.ok(!seen.includes(next), `${next} reached twice (a cycle)`);
          if (wasDelivered) assert.ok(isDelivered(next), `${cur} → ${next} leaves delivered`);
          cur = next;
          seen.push(cur);
          wasDelivered ||= isDelivered(cur);
        }
      }),
      { numRuns: 5000 },
    );
  });

  test('the relation is a strict order (irreflexive, antisymmetric, transitive)', () => {
    for (const a of MESSAGE_STATUSES) {
      assert.equal(canTransition(a, a), false, a);
      for (const b of MESSAGE_STATUSES) {
        if (canTransition(a, b)) assert.equal(canTransition(b, a), false, `${a} ⇄ ${b}`);
        for (const c of MESSAGE_STATUSES) {
          if (canTransition(a, b) && canTransition(b, c))
            assert.ok(canTransition(a, c), `${a} → ${b} → ${c}`);
        }
      }
    }
  });

  test('the documented moves', () => {
    const yes: [MessageStatus, MessageStatus][] = [
      ['accepted', 'queued'],
      ['queued', 'sent'],
      ['sent', 'delivered'],
      ['delivered', 'displayed'],
      ['displayed', 'opened'],
      ['delivered', 'opened'],
      ['sent', 'fallback'],
      ['queued', 'expired'],
      ['sent', 'expired'],
      ['expired', 'delivered'], // a late ACK: the device has it
      ['fallback', 'delivered'],
      ['failed', 'delivered'],
    ];
    const no: [MessageStatus, MessageStatus][] = [
      ['delivered', 'sent'],
      ['delivered', 'expired'],
      ['delivered', 'fallback'],
      ['delivered', 'failed'],
      ['opened', 'displayed'],
      ['opened', 'delivered'],
      ['displayed', 'delivered'],
      ['expired', 'sent'],
      ['fallback', 'expired'],
      ['expired', 'fallback'],
      ['sent', 'queued'],
      ['queued', 'accepted'],
    ];
    for (const [a, b] of yes) assert.ok(canTransition(a, b), `${a} → ${b} must be allowed`);
    for (const [a, b] of no) assert.ok(!canTransition(a, b), `${a} → ${b} must be refused`);
    for (const s of DELIVERED) assert.ok(isDelivered(s) && isSettled(s));
    for (const s of ['expired', 'failed'] as const) assert.ok(isSettled(s) && !isDelivered(s));
    for (const s of ['accepted', 'queued', 'sent', 'fallback'] as const) assert.ok(!isSettled(s));
  });

  test('the message store applies exactly the allowed moves and keeps a consistent history', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(status, { maxLength: 30 }), async (moves) => {
        const store = new MemoryMessageStore();
        const rec: MessageRecord = {
          id: '1',
          app: 'a',
          device: 'd',
          kind: 'notification',
          priority: 'normal',
          createdAt: 0,
          expiresAt: 1_000_000,
          status: 'accepted',
          channel: null,
          history: [{ status: 'accepted', at: 0 }],
        };
        await store.create(rec);
        let cur: MessageStatus = 'accepted';
        let at = 0;
        for (const next of moves) {
          at++;
          const changed = await store.transition('1', next, at);
          assert.equal(changed, canTransition(cur, next), `${cur} → ${next}`);
          if (changed) cur = next;
          const got = (await store.get('1'))!;
          assert.equal(got.status, cur);
          assert.equal(got.history.at(-1)!.status, cur === 'sent' && next === 'sent' ? 'sent' : cur);
          // Pending (offline redelivery) exactly while not settled.
          const pending = await store.pendingFor('a', 'd', 0, 10);
          assert.equal(pending.length, isSettled(cur) ? 0 : 1);
        }
        const hist = (await store.get('1'))!.history;
        const firstDelivered = hist.findIndex((x) => isDelivered(x.status));
        if (firstDelivered >= 0) assert.ok(hist.slice(firstDelivered).every((x) => isDelivered(x.status)));
        for (let i = 1; i < hist.length; i++) assert.ok(hist[i]!.at >= hist[i - 1]!.at);
      }),
      { numRuns: 500 },
    );
  });
});
