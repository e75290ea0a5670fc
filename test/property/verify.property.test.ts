import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { testJwtOptions, TEST_AUDIENCE, TEST_ISSUER } from '@tokenwarden/testing';
import { verifyJwt, type JwtVerifyPolicy } from '../../packages/core/src/verify/jwt';
import { KeyRing } from '../../packages/core/src/verify/key-ring';
import { applyEdits, edit, jwtShaped, validTokens } from './arbitraries';

const options = testJwtOptions();
const policy: JwtVerifyPolicy = {
  ring: new KeyRing(options.keys, options.algorithms),
  algorithms: options.algorithms,
  issuer: TEST_ISSUER,
  audience: TEST_AUDIENCE,
  maxLifetimeMs: 3_600_000,
  clockToleranceMs: 5_000,
  maxClaimLength: 256,
  permissionsClaim: undefined,
};
const tokens = validTokens();

/** Runs verification, failing the property if it throws; checks the detail never echoes input. */
function verify(token: string) {
  const result = verifyJwt(token, policy, Date.now());
  if (!result.ok) {
    for (const part of token.split('.')) {
      if (part.length >= 8) expect(result.failure.detail).not.toContain(part);
    }
  }
  return result;
}

describe('verifyJwt on arbitrary input', () => {
  it('accepts the unedited tokens (the control)', () => {
    for (const token of tokens) expect(verify(token).ok).toBe(true);
  });

  it('never throws and never accepts a JWT-shaped string nobody signed', () => {
    fc.assert(
      fc.property(jwtShaped, (token) => {
        expect(verify(token).ok).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it('never accepts an edited token unless the edits gave back the original', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...tokens),
        fc.array(edit, { minLength: 1, maxLength: 4 }),
        (token, edits) => {
          const edited = applyEdits(token, edits);
          expect(verify(edited).ok).toBe(edited === token);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('never accepts a valid header and signature around another payload', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...tokens),
        fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 })),
        (token, extra) => {
          const [h, p, s] = token.split('.') as [string, string, string];
          const claims = { ...JSON.parse(Buffer.from(p, 'base64url').toString()), ...extra };
          const other = Buffer.from(JSON.stringify(claims)).toString('base64url');
          expect(verify(`${h}.${other}.${s}`).ok).toBe(other === p);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
