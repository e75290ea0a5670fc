import { describe, expect, it } from '@jest/globals';
import { isRevoked, type StoreSnapshot } from '@tokenwarden/core/internal';

const T = Date.UTC(2030, 0, 1, 12, 0, 0);

function snapshot(fields: Partial<StoreSnapshot> = {}): StoreSnapshot {
  return { tokenRevoked: false, notBefore: {}, ...fields };
}

describe('isRevoked', () => {
  it('passes a token with no revocation state', () => {
    expect(isRevoked(snapshot(), T)).toBe(false);
  });

  it('refuses a token whose id is revoked, whatever its age', () => {
    expect(isRevoked(snapshot({ tokenRevoked: true }), T)).toBe(true);
    expect(isRevoked(snapshot({ tokenRevoked: true, notBefore: { all: T - 10_000 } }), T)).toBe(
      true,
    );
  });

  it.each(['subject', 'client', 'all'] as const)(
    'refuses tokens issued at or before the %s mark and passes later ones',
    (scope) => {
      const marked = snapshot({ notBefore: { [scope]: T } });
      expect(isRevoked(marked, T - 60_000)).toBe(true);
      expect(isRevoked(marked, T)).toBe(true);
      expect(isRevoked(marked, T + 1_000)).toBe(false);
    },
  );

  it('applies the same-second rule: iat in the second of the mark counts as before it', () => {
    // A mark at 12:00:00.750; a token minted at 12:00:00.900 carries iat 12:00:00 (= T).
    const marked = snapshot({ notBefore: { subject: T + 750 } });
    expect(isRevoked(marked, T)).toBe(true);
    expect(isRevoked(marked, T + 1_000)).toBe(false);
    // A mark at 11:59:59.999 does not touch a token of the next second.
    expect(isRevoked(snapshot({ notBefore: { all: T - 1 } }), T)).toBe(false);
  });

  it('refuses when any one of several marks covers the token', () => {
    const marks = snapshot({ notBefore: { subject: T - 60_000, client: T + 30_000, all: T - 1 } });
    expect(isRevoked(marks, T)).toBe(true);
    expect(isRevoked(marks, T + 31_000)).toBe(false);
  });
});
