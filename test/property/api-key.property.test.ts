import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { ApiKeyRecord } from '../../packages/core/src/store/credential-types';
import {
  generateCredential,
  hashCredential,
} from '../../packages/core/src/internal/credential-format';
import {
  looksLikeApiKey,
  verifyApiKey,
  type ApiKeyVerifyPolicy,
} from '../../packages/core/src/verify/api-key';
import { applyEdits, edit } from './arbitraries';

/**
 * The API-key format (`twk_<env>_<32 base62><6 base62 checksum>`) against hostile input: a table
 * of malformed, foreign and stale keys, then properties over arbitrary edits and strings. A key
 * that fails format or checksum never reaches the store; nothing but the issued key is accepted.
 */

const NOW = Date.UTC(2030, 0, 1);
const key = generateCredential('twk', 'live');
const testKey = generateCredential('twk', 'test');
const refresh = generateCredential('twr', 'live');
const record = (over: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({
  keyId: 'ak_property',
  hash: hashCredential(key),
  client: 'billing-job',
  subject: 'billing-job',
  scopes: ['customers:read'],
  environment: 'live',
  createdAt: NOW - 60_000,
  expiresAt: NOW + 3_600_000,
  ...over,
});

/** A policy whose store knows `key` (as `stored`) and counts its look-ups. */
function policy(stored: ApiKeyRecord | 'throws' = record()) {
  const calls = { count: 0 };
  const p: ApiKeyVerifyPolicy = {
    environments: ['live'],
    store: {
      findApiKey: async (hash: string) => {
        calls.count += 1;
        if (stored === 'throws') throw new Error('store down');
        return hash === stored.hash ? stored : undefined;
      },
    },
  };
  return { policy: p, calls };
}

const body = key.slice('twk_live_'.length);
const flip = (s: string, at: number) =>
  `${s.slice(0, at)}${s[at] === 'A' ? 'B' : 'A'}${s.slice(at + 1)}`;

const TABLE: [string, string, string, boolean][] = [
  // name, credential, code, reaches the store
  ['checksum character changed', flip(key, key.length - 1), 'token_malformed', false],
  ['random part changed (checksum now wrong)', flip(key, 12), 'token_malformed', false],
  ['upper-case prefix TWK_', `TWK_${key.slice(4)}`, 'token_malformed', false],
  ['refresh-token prefix twr_', refresh, 'token_malformed', false],
  ['environment not accepted (test)', testKey, 'key_unknown', false],
  ['one character short', key.slice(0, -1), 'token_malformed', false],
  ['one character long', `${key}A`, 'token_malformed', false],
  [
    'an extra underscore',
    `twk_live_${body.slice(0, 10)}_${body.slice(10)}`,
    'token_malformed',
    false,
  ],
  ['no environment', `twk__${body}`, 'token_malformed', false],
  ['environment in upper case', `twk_LIVE_${body}`, 'token_malformed', false],
  [
    'a Cyrillic а in the body',
    `twk_live_${body.slice(0, 5)}а${body.slice(6)}`,
    'token_malformed',
    false,
  ],
  ['a trailing newline', `${key}\n`, 'token_malformed', false],
  ['a leading space', ` ${key}`, 'token_malformed', false],
  ['the key twice', `${key}${key}`, 'token_malformed', false],
  ['10 KB after the prefix', `twk_live_${'A'.repeat(10_000)}`, 'token_malformed', false],
  ['a well-formed key nobody issued', generateCredential('twk', 'live'), 'key_unknown', true],
];

describe('API-key format against hostile input', () => {
  it('accepts the issued key (the control)', async () => {
    const { policy: p } = policy();
    await expect(verifyApiKey(key, p, NOW)).resolves.toMatchObject({
      ok: true,
      token: { tokenId: 'ak_property', subject: 'billing-job' },
    });
  });

  it.each(TABLE)('%s → %s', async (_name, credential, code, reachesStore) => {
    const { policy: p, calls } = policy();
    const result = await verifyApiKey(credential, p, NOW);
    expect(result).toMatchObject({ ok: false, failure: { code } });
    expect(calls.count > 0).toBe(reachesStore);
    if (!result.ok) expect(result.failure.detail).not.toContain(credential.trim());
  });

  it.each([
    ['revoked a moment ago', record({ revokedAt: NOW - 1 }), 'token_revoked'],
    ['expired a moment ago', record({ expiresAt: NOW - 1 }), 'token_expired'],
    ['a record under another hash', record({ hash: hashCredential(refresh) }), 'key_unknown'],
  ] as const)('refuses the issued key when %s', async (_name, stored, code) => {
    const { policy: p } = policy(stored);
    await expect(verifyApiKey(key, p, NOW)).resolves.toMatchObject({
      ok: false,
      failure: { code },
    });
  });

  it('answers store_unavailable, never an allow, when the store throws', async () => {
    const { policy: p } = policy('throws');
    await expect(verifyApiKey(key, p, NOW)).resolves.toMatchObject({
      ok: false,
      failure: { code: 'store_unavailable' },
    });
  });

  it('never accepts an edited key unless the edits gave it back', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 3 }), async (edits) => {
        const edited = applyEdits(key, edits);
        const { policy: p } = policy();
        const result = await verifyApiKey(edited, p, NOW);
        expect(result.ok).toBe(edited === key);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws or accepts an arbitrary string behind the twk_ prefix', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 80, unit: 'binary' }), async (rest) => {
        const credential = `twk_${rest}`;
        expect(looksLikeApiKey(credential)).toBe(true);
        const { policy: p } = policy();
        expect((await verifyApiKey(credential, p, NOW)).ok).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
});
