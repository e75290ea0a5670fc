import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_CONSENT_RETENTION_MS,
  evaluateConsent,
  MemoryStore,
  type AuditEvent,
} from '@tokenwarden/core';
import { StateReplay } from '../src/state/replay';

const NOW = Date.UTC(2030, 0, 1, 12);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const settings = { now: NOW, maxLifetimeMs: HOUR, clockToleranceMs: 5_000 };

let seq = 0;
/** A lifecycle event as the trail stores it (chain fields left out: the replay reads none). */
function event(type: AuditEvent['type'], at: number, fields: Partial<AuditEvent> = {}): AuditEvent {
  seq += 1;
  return {
    schemaVersion: 2,
    id: `node/${seq}`,
    time: new Date(at).toISOString(),
    type,
    outcome: 'success',
    ...fields,
  };
}

async function replayed(events: readonly AuditEvent[]) {
  const replay = new StateReplay(settings);
  for (const e of events) replay.add(e);
  const store = new MemoryStore();
  const summary = await replay.apply(store);
  return { store, summary };
}

describe('StateReplay', () => {
  it('rebuilds revoked ids and marks as the warden kept them, dropping what can refuse nothing', async () => {
    const { store, summary } = await replayed([
      event('token.revoked', NOW - MINUTE, { tokenId: 'live', detail: { expiresAt: NOW + HOUR } }),
      event('token.revoked', NOW - 2 * HOUR, {
        tokenId: 'expired',
        detail: { expiresAt: NOW - HOUR },
      }),
      // A revocation whose store write failed may still have been taken: it is applied.
      event('token.revoked', NOW - MINUTE, {
        tokenId: 'failed',
        outcome: 'failure',
        reason: 'store_unavailable',
        detail: { expiresAt: NOW + HOUR },
      }),
      event('subject.revoked', NOW - 10 * MINUTE, {
        subject: 'alice',
        detail: { before: NOW - 10 * MINUTE },
      }),
      // An older mark read later never moves the mark back.
      event('subject.revoked', NOW - 20 * MINUTE, {
        subject: 'alice',
        detail: { before: NOW - 20 * MINUTE },
      }),
      event('client.revoked', NOW - 3 * HOUR, {
        client: 'old-app',
        detail: { before: NOW - 3 * HOUR },
      }),
      event('all.revoked', NOW - MINUTE, { detail: { before: NOW - MINUTE } }),
      event('subject.revoked', NOW, { detail: { before: NOW } }),
      event('access.decision', NOW, { outcome: 'allow', tokenId: 'live' }),
    ]);
    expect(summary).toEqual({
      events: 9,
      tokens: 2,
      subjects: 1,
      clients: 0,
      all: 1,
      consents: 0,
      skipped: 1,
    });
    expect((await store.lookup({ tokenId: 'live', subject: 's' })).tokenRevoked).toBe(true);
    expect((await store.lookup({ tokenId: 'failed', subject: 's' })).tokenRevoked).toBe(true);
    expect((await store.lookup({ tokenId: 'expired', subject: 's' })).tokenRevoked).toBe(false);
    expect((await store.lookup({ tokenId: 't', subject: 'alice' })).notBefore).toEqual({
      subject: NOW - 10 * MINUTE,
      all: NOW - MINUTE,
    });
  });

  it('rebuilds each consent record from its last grant and last withdrawal, in their order', async () => {
    const { store, summary } = await replayed([
      // Granted, then withdrawn: withdrawn.
      event('consent.granted', NOW - 50, {
        dataSubject: 'a',
        purpose: 'p',
        detail: { grantedAt: NOW - 50, source: 'form' },
      }),
      event('consent.withdrawn', NOW - 40, {
        dataSubject: 'a',
        purpose: 'p',
        detail: { withdrawnAt: NOW - 40, source: 'ticket' },
      }),
      // Withdrawn, then granted again: active for tokens issued after the withdrawal only.
      event('consent.withdrawn', NOW - 30, { dataSubject: 'b', purpose: 'p' }),
      event('consent.granted', NOW - 20, {
        dataSubject: 'b',
        purpose: 'p',
        detail: { grantedAt: NOW - 20, expiresAt: NOW + HOUR },
      }),
      // A grant that failed is not restored: it could only allow more.
      event('consent.granted', NOW - 10, { dataSubject: 'c', purpose: 'p', outcome: 'failure' }),
      // The events of one record in any order: the latest of each kind counts.
      event('consent.granted', NOW - 5, { dataSubject: 'd', purpose: 'p' }),
      event('consent.granted', NOW - 9, { dataSubject: 'd', purpose: 'p' }),
    ]);
    expect(summary.consents).toBe(3);
    expect(await store.getConsent('a', 'p')).toEqual({
      subject: 'a',
      purpose: 'p',
      grantedAt: NOW - 50,
      withdrawnAt: NOW - 40,
      source: 'ticket',
      // The withdrawal named no retention: the store's default applies from its time.
      keepUntil: NOW - 40 + DEFAULT_CONSENT_RETENTION_MS,
    });
    expect(evaluateConsent(await store.getConsent('a', 'p'), NOW, NOW)).toBe('consent_withdrawn');
    const b = await store.getConsent('b', 'p');
    expect(b).toEqual({
      subject: 'b',
      purpose: 'p',
      grantedAt: NOW - 20,
      expiresAt: NOW + HOUR,
      withdrawnAt: NOW - 30,
    });
    expect(evaluateConsent(b, NOW - 35, NOW)).toBe('consent_withdrawn');
    expect(evaluateConsent(b, NOW, NOW)).toBe('pass');
    expect(await store.getConsent('c', 'p')).toBeUndefined();
    expect((await store.getConsent('d', 'p'))?.grantedAt).toBe(NOW - 5);
  });
});
