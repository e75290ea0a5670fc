import { describe, expect, it } from '@jest/globals';
import { encodeId } from '../src/keys';
import { decodeId } from '../src/store-migrate';

describe('decodeId (reading ids back from keys of the single layout)', () => {
  it('inverts encodeId for ids of every shape', () => {
    const ids = ['user-1', 'a:b{c}*?[]', 'ü€😀', '\ud800 lone', '%u00FF', '', '#x', ' \n\t%'];
    for (const id of ids) expect(decodeId(encodeId(id))).toBe(id);
  });

  it('answers undefined for a hashed or malformed id', () => {
    expect(decodeId(`#${'a'.repeat(64)}`)).toBeUndefined();
    expect(decodeId('%G1')).toBeUndefined();
    expect(decodeId('%u12')).toBeUndefined();
    expect(decodeId('a:b')).toBeUndefined();
  });
});
