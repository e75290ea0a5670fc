import { describe, expect, it } from '@jest/globals';
import { CANONICAL_FIELDS } from '../../src/audit/chain';
import { AUDIT_FIELDS, STAMPED_FIELDS } from '../../src/audit/fields';

describe('the audit field list', () => {
  it('names every field once, in canonical order, with the hash last', () => {
    expect(new Set(AUDIT_FIELDS).size).toBe(AUDIT_FIELDS.length);
    expect(AUDIT_FIELDS.slice(0, 7)).toEqual([
      'schemaVersion',
      'id',
      'time',
      'producer',
      'seq',
      'type',
      'outcome',
    ]);
    expect(AUDIT_FIELDS.slice(-4)).toEqual(['detail', 'sealed', 'prevHash', 'hash']);
  });

  it('is the order the chain serialises, without the hash', () => {
    expect(CANONICAL_FIELDS).toEqual(AUDIT_FIELDS.filter((f) => f !== 'hash'));
  });

  it('holds every field the trail stamps', () => {
    expect(AUDIT_FIELDS).toEqual(expect.arrayContaining([...STAMPED_FIELDS]));
    expect(Object.isFrozen(AUDIT_FIELDS)).toBe(true);
  });
});
