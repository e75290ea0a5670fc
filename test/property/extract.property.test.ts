import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { RequestView } from '@tokenwarden/core';
import { extractToken, type ExtractPolicy } from '../../packages/core/src/verify/extract';
import { authorizationValue, jwtShaped, validTokens } from './arbitraries';

const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
const tokens = validTokens();

function viewOf(headers: readonly string[] | undefined, url: string, cookie?: string): RequestView {
  return {
    method: 'GET',
    path: url.split('?')[0]!,
    url,
    headerValues: (name) => (name === 'authorization' ? headers : undefined),
    ...(cookie === undefined
      ? {}
      : { cookie: (name: string) => (name === 'at' ? cookie : undefined) }),
  };
}

const policies: fc.Arbitrary<ExtractPolicy> = fc.record({
  header: fc.constant('authorization'),
  cookie: fc.constantFrom(undefined, 'at'),
  queryParameter: fc.constantFrom(undefined, 'access_token'),
  maxTokenBytes: fc.constantFrom(64, 1024, 8192),
});

const urls = fc.oneof(
  fc.constant('/customers/1'),
  jwtShaped.map((t) => `/customers/1?access_token=${encodeURIComponent(t)}`),
  fc.string({ maxLength: 40 }).map((q) => `/x?${q}`),
  fc.tuple(jwtShaped, jwtShaped).map(([a, b]) => `/x?access_token=${a}&access_token=${b}`),
);

describe('extractToken on arbitrary requests', () => {
  it('never throws; a token it returns is one token68 credential within the size cap', () => {
    fc.assert(
      fc.property(
        fc.option(fc.array(authorizationValue(tokens), { maxLength: 3 }), { nil: undefined }),
        urls,
        fc.option(fc.oneof(jwtShaped, fc.string()), { nil: undefined }),
        policies,
        (headers, url, cookie, policy) => {
          const result = extractToken(viewOf(headers, url, cookie), policy);
          if (!result.ok) {
            expect(typeof result.code).toBe('string');
            return;
          }
          expect(result.token).toMatch(TOKEN68);
          expect(result.token.length).toBeLessThanOrEqual(policy.maxTokenBytes);
          // Exactly one source: at most one header value, and never a header next to another.
          expect((headers ?? []).length).toBeLessThanOrEqual(1);
          const header = headers?.[0];
          if (header !== undefined) {
            expect(header).toMatch(/^bearer +/i);
            expect(header.endsWith(result.token)).toBe(true);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses any request with two or more Authorization values as token_multiple', () => {
    fc.assert(
      fc.property(
        fc.array(authorizationValue(tokens), { minLength: 2, maxLength: 4 }),
        (headers) => {
          const result = extractToken(viewOf(headers, '/'), {
            header: 'authorization',
            cookie: undefined,
            queryParameter: undefined,
            maxTokenBytes: 8192,
          });
          expect(result).toMatchObject({ ok: false, code: 'token_multiple' });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never takes a query-string token while query tokens are off', () => {
    fc.assert(
      fc.property(urls, (url) => {
        const result = extractToken(viewOf(undefined, url), {
          header: 'authorization',
          cookie: undefined,
          queryParameter: undefined,
          maxTokenBytes: 8192,
        });
        expect(result.ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});
