import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { checkPolicy } from '@tokenwarden/core/policy';

describe("the examples' policy", () => {
  it('passes policy check with no finding at all', () => {
    const text = readFileSync(join(__dirname, '..', 'tokenwarden.policy.yaml'), 'utf8');
    expect(checkPolicy(text).diagnostics).toEqual([]);
  });
});
