import { describe, expect, it } from '@jest/globals';
import { MemoryStore, type AuditEvent } from '@tokenwarden/core';
import { FakeClock } from '@tokenwarden/testing';
import { StateReplay } from '../src/state/replay';

const NOW = Date.UTC(2030, 0, 1, 12);
const DAY = 86_400_000;

function event(type: AuditEvent['type'], at: number, fields: Partial<AuditEvent>): AuditEvent {
  return {
    schemaVersion: 2,
    id: `node/${at}`,
    time: new Date(at).toISOString(),
    type,
    outcome: 'success',
    ...fields,
  };
}

describe('StateReplay of consent records that prove something', () => {
  it('restores the notice and evidence of the grant and the retention of the withdrawal', async () => {
    const replay = new StateReplay({ now: NOW, maxLifetimeMs: 3_600_000, clockToleranceMs: 5_000 });
    replay.add(
      event('consent.granted', NOW - 10 * DAY, {
        dataSubject: 'jane',
        purpose: 'marketing',
        detail: {
          grantedAt: NOW - 10 * DAY,
          notice: 'privacy-notice@2026-03',
          source: 'privacy-portal',
          evidence: 'form-8841',
        },
      }),
    );
    replay.add(
      event('consent.withdrawn', NOW - DAY, {
        dataSubject: 'jane',
        purpose: 'marketing',
        detail: { withdrawnAt: NOW - DAY, keepUntil: NOW + 30 * DAY },
      }),
    );
    const store = new MemoryStore({ clock: new FakeClock(NOW) });
    await replay.apply(store);
    expect(await store.getConsent('jane', 'marketing')).toStrictEqual({
      subject: 'jane',
      purpose: 'marketing',
      grantedAt: NOW - 10 * DAY,
      withdrawnAt: NOW - DAY,
      notice: 'privacy-notice@2026-03',
      source: 'privacy-portal',
      evidence: 'form-8841',
      keepUntil: NOW + 30 * DAY,
    });
    await store.close();
  });
});
