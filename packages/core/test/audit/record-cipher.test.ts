import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { RecordCipher } from '../../src/audit';
import { EnvelopeError, masterKey } from '../../src/internal/envelope';

describe('RecordCipher', () => {
  const doc = JSON.stringify({ source: 'portal', evidence: 'receipt-sha256:ab12' });
  const where = 'consent:jo@example.com:newsletter';

  it('seals synchronously, bound to the record, and opens with the master key', () => {
    const master = masterKey(randomBytes(32));
    const cipher = new RecordCipher(master);
    const sealed = cipher.seal(doc, where);
    expect(RecordCipher.isSealed(sealed)).toBe(true);
    expect(RecordCipher.isSealed(doc)).toBe(false);
    expect(sealed.startsWith(`rc1.${master.id}.`)).toBe(true);
    expect(sealed).not.toContain('portal');
    expect(cipher.open(sealed, where)).toBe(doc);
    // Copied to another record: refused.
    expect(() => cipher.open(sealed, 'consent:someone-else:newsletter')).toThrow(EnvelopeError);
    // Altered: refused.
    const altered = sealed.slice(0, -2) + (sealed.endsWith('A') ? 'BB' : 'AA');
    expect(() => cipher.open(altered, where)).toThrow(/altered/);
    expect(() => cipher.open(doc, where)).toThrow(/not a record sealed/);
  });

  it('rotates: previous master keys open, rewrap moves a value to the current one', () => {
    const old = masterKey(randomBytes(32));
    const next = masterKey(randomBytes(32));
    const sealed = new RecordCipher(old).seal(doc, where);
    expect(() => new RecordCipher(next).open(sealed, where)).toThrow(
      new RegExp(`${old.id}, which is not configured`),
    );
    const rotated = new RecordCipher(next, [old]);
    expect(rotated.open(sealed, where)).toBe(doc);
    const moved = rotated.rewrap(sealed, where)!;
    expect(moved.startsWith(`rc1.${next.id}.`)).toBe(true);
    expect(new RecordCipher(next).open(moved, where)).toBe(doc);
    expect(rotated.rewrap(moved, where)).toBeUndefined();
  });
});
