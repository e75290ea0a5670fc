import { createHash, randomBytes } from 'node:crypto';
import type {
  ApiKeyRecord,
  CredentialStore,
  RefreshFamily,
  RefreshTokenRecord,
} from '@tokenwarden/core';
import type { FakeClock } from './fake-clock';

/** The store, clock and record builders of the running contract test, set before each test. */
export interface CredentialContractContext {
  readonly store: CredentialStore;
  readonly clock: FakeClock;
  /** A new API-key record (unique id and hash), valid for 30 days from now. */
  key(overrides?: Partial<ApiKeyRecord>): ApiKeyRecord;
  /** A new refresh-token family (unique id), ending 30 days from now. */
  family(overrides?: Partial<RefreshFamily>): RefreshFamily;
  /** A new refresh token of `familyId` (unique id and hash), valid for 14 days. */
  token(familyId: string, overrides?: Partial<RefreshTokenRecord>): RefreshTokenRecord;
  /** A new refresh token to rotate into, without its family. */
  next(overrides?: Partial<RefreshTokenRecord>): Omit<RefreshTokenRecord, 'familyId'>;
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** A random lower-case hex SHA-256, as stores receive them. */
export function anyHash(): string {
  return createHash('sha256').update(randomBytes(16)).digest('hex');
}

/** Ids that a store building keys by concatenation could confuse. */
export const TRICKY_IDS: readonly string[] = [
  'a',
  'A',
  'a:b',
  'a:',
  '{tw}',
  '%41',
  '#',
  '*',
  'ak:h:x',
  '\u00e9',
  'e\u0301',
  'x'.repeat(2_000),
  `${'x'.repeat(1_999)}y`,
];
