import { describe, expect, it } from '@jest/globals';
import { extractToken, type ExtractPolicy } from '../../src/verify/extract';
import { view } from '../support';

const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl';

const policy: ExtractPolicy = {
  header: 'authorization',
  cookie: undefined,
  queryParameter: undefined,
  maxTokenBytes: 8192,
};

describe('extractToken: Authorization header', () => {
  it('takes the token from "Bearer <token>"', () => {
    const result = extractToken(view({ headers: { authorization: `Bearer ${TOKEN}` } }), policy);
    expect(result).toEqual({ ok: true, token: TOKEN, scheme: 'bearer' });
  });

  it.each(['bearer', 'BEARER', 'BeArEr'])('treats the scheme %s case-insensitively', (scheme) => {
    const result = extractToken(view({ headers: { authorization: `${scheme} ${TOKEN}` } }), policy);
    expect(result).toEqual({ ok: true, token: TOKEN, scheme: 'bearer' });
  });

  it('accepts several spaces between scheme and token (RFC 6750: 1*SP)', () => {
    const result = extractToken(view({ headers: { authorization: `Bearer   ${TOKEN}` } }), policy);
    expect(result).toEqual({ ok: true, token: TOKEN, scheme: 'bearer' });
  });

  it.each([
    ['a tab instead of a space', `Bearer\t${TOKEN}`],
    ['no token', 'Bearer'],
    ['a space and no token', 'Bearer '],
    ['no space', `Bearer${TOKEN}`],
    ['another scheme', 'Basic dXNlcjpwYXNz'],
    ['two tokens', 'Bearer a b'],
    ['a character outside b64token', 'Bearer abc!def'],
    ['an empty value', ''],
  ])('refuses %s as token_malformed', (_name, value) => {
    const result = extractToken(view({ headers: { authorization: value } }), policy);
    expect(result).toMatchObject({ ok: false, code: 'token_malformed' });
  });

  it.each([
    ['Basic', 'Basic dXNlcjpwYXNz'],
    ['Digest', 'Digest username="admin", response="x"'],
    ['a bare token', TOKEN],
    ['a scheme glued to the token', `Bearer${TOKEN}`],
    ['DPoP, not accepted here', `DPoP ${TOKEN}`],
    ['an empty value', ''],
  ])('marks %s as another scheme (no Bearer credential at all)', (_name, value) => {
    const result = extractToken(view({ headers: { authorization: value } }), policy);
    expect(result).toEqual({
      ok: false,
      code: 'token_malformed',
      detail: 'another authentication scheme',
      otherScheme: true,
    });
  });

  it.each([
    ['a tab instead of a space', `Bearer\t${TOKEN}`],
    ['no token', 'Bearer'],
    ['two tokens', 'Bearer a b'],
    ['lower case, bad characters', 'bearer abc!def'],
  ])('marks %s as a malformed Bearer credential, not another scheme', (_name, value) => {
    const result = extractToken(view({ headers: { authorization: value } }), policy);
    expect(result).toEqual({
      ok: false,
      code: 'token_malformed',
      detail: 'malformed credential',
    });
  });

  it('counts a malformed DPoP credential as an attempt at DPoP when DPoP is accepted', () => {
    const v = view({ headers: { authorization: 'DPoP a b' } });
    expect(extractToken(v, { ...policy, dpop: true })).toEqual({
      ok: false,
      code: 'token_malformed',
      detail: 'malformed credential',
    });
    expect(extractToken(v, policy)).toMatchObject({ otherScheme: true });
  });

  it('reports token_missing when no credential is sent', () => {
    expect(extractToken(view(), policy)).toMatchObject({ ok: false, code: 'token_missing' });
  });

  it('reports token_missing when the adapter gives an empty list of header values', () => {
    const v = view({ headers: { authorization: [] } });
    expect(extractToken(v, policy)).toMatchObject({ ok: false, code: 'token_missing' });
  });

  it('refuses a repeated Authorization header as token_multiple', () => {
    const v = view({ headers: { authorization: [`Bearer ${TOKEN}`, `Bearer ${TOKEN}`] } });
    expect(extractToken(v, policy)).toMatchObject({ ok: false, code: 'token_multiple' });
  });

  it('reads a configured header name', () => {
    const custom: ExtractPolicy = { ...policy, header: 'x-api-token' };
    const v = view({ headers: { 'x-api-token': `Bearer ${TOKEN}`, authorization: 'Basic x' } });
    expect(extractToken(v, custom)).toEqual({ ok: true, token: TOKEN, scheme: 'bearer' });
  });
});

describe('extractToken: size cap before parsing', () => {
  const small: ExtractPolicy = { ...policy, maxTokenBytes: 64 };

  it('accepts a token of exactly maxTokenBytes', () => {
    const token = 'a'.repeat(64);
    const v = view({ headers: { authorization: `Bearer ${token}` } });
    expect(extractToken(v, small)).toEqual({ ok: true, token, scheme: 'bearer' });
  });

  it('refuses a token one byte above maxTokenBytes', () => {
    const v = view({ headers: { authorization: `Bearer ${'a'.repeat(65)}` } });
    expect(extractToken(v, small)).toMatchObject({ ok: false, code: 'token_too_large' });
  });

  it('refuses an oversized header as token_too_large even when it is not a Bearer credential', () => {
    // Were the header parsed first, this would be token_malformed.
    const v = view({ headers: { authorization: `Basic ${'!'.repeat(10_000)}` } });
    expect(extractToken(v, small)).toMatchObject({ ok: false, code: 'token_too_large' });
  });

  it('refuses a 100 KB header quickly', () => {
    const v = view({ headers: { authorization: `Bearer ${'a.'.repeat(50_000)}` } });
    const started = performance.now();
    expect(extractToken(v, policy)).toMatchObject({ ok: false, code: 'token_too_large' });
    expect(performance.now() - started).toBeLessThan(50);
  });

  it('caps cookie tokens before checking their characters', () => {
    const cookie: ExtractPolicy = { ...small, cookie: 'tw' };
    const v = view({ cookies: { tw: '!'.repeat(65) } });
    expect(extractToken(v, cookie)).toMatchObject({ ok: false, code: 'token_too_large' });
  });
});

describe('extractToken: cookie', () => {
  const withCookie: ExtractPolicy = { ...policy, cookie: 'tw_token' };

  it('reads the configured cookie', () => {
    expect(extractToken(view({ cookies: { tw_token: TOKEN } }), withCookie)).toEqual({
      ok: true,
      token: TOKEN,
      scheme: 'bearer',
    });
  });

  it('ignores cookies unless a cookie name is configured', () => {
    expect(extractToken(view({ cookies: { tw_token: TOKEN } }), policy)).toMatchObject({
      ok: false,
      code: 'token_missing',
    });
  });

  it('ignores an empty cookie', () => {
    expect(extractToken(view({ cookies: { tw_token: '' } }), withCookie)).toMatchObject({
      ok: false,
      code: 'token_missing',
    });
  });

  it('refuses a cookie plus a header as token_multiple', () => {
    const v = view({ cookies: { tw_token: TOKEN }, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(extractToken(v, withCookie)).toMatchObject({ ok: false, code: 'token_multiple' });
  });

  it('refuses a cookie value with characters outside b64token', () => {
    expect(extractToken(view({ cookies: { tw_token: 'a b' } }), withCookie)).toMatchObject({
      ok: false,
      code: 'token_malformed',
    });
  });

  it('works with an adapter that cannot read cookies', () => {
    expect(extractToken(view(), withCookie)).toMatchObject({ ok: false, code: 'token_missing' });
  });
});

describe('extractToken: query string', () => {
  it('never reads ?access_token= by default', () => {
    const v = view({ path: '/x', url: `/x?access_token=${TOKEN}` });
    expect(extractToken(v, policy)).toMatchObject({ ok: false, code: 'token_missing' });
  });

  it('refuses a header plus ?access_token= as token_multiple even when query tokens are off', () => {
    const v = view({
      path: '/x',
      url: `/x?access_token=${TOKEN}`,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(extractToken(v, policy)).toMatchObject({ ok: false, code: 'token_multiple' });
  });

  it('reads the configured query parameter when enabled', () => {
    const q: ExtractPolicy = { ...policy, queryParameter: 'token' };
    const v = view({ path: '/x', url: `/x?page=2&token=${TOKEN}` });
    expect(extractToken(v, q)).toEqual({ ok: true, token: TOKEN, scheme: 'bearer' });
  });

  it('does not mistake a parameter that merely contains the name', () => {
    const q: ExtractPolicy = { ...policy, queryParameter: 'token' };
    const v = view({ path: '/x', url: `/x?my_token=${TOKEN}` });
    expect(extractToken(v, q)).toMatchObject({ ok: false, code: 'token_missing' });
  });

  it('refuses a query token plus a header token as token_multiple', () => {
    const q: ExtractPolicy = { ...policy, queryParameter: 'token' };
    const v = view({
      path: '/x',
      url: `/x?token=${TOKEN}`,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(extractToken(v, q)).toMatchObject({ ok: false, code: 'token_multiple' });
  });

  it('refuses a repeated query parameter as token_multiple', () => {
    const q: ExtractPolicy = { ...policy, queryParameter: 'token' };
    const v = view({ path: '/x', url: `/x?token=${TOKEN}&token=${TOKEN}x` });
    expect(extractToken(v, q)).toMatchObject({ ok: false, code: 'token_multiple' });
  });

  it('ignores a path that only mentions the name', () => {
    const v = view({ path: '/access_token', url: '/access_token' });
    expect(extractToken(v, policy)).toMatchObject({ ok: false, code: 'token_missing' });
  });
});

describe('extractToken: failures carry no token', () => {
  it('never puts the credential in the detail', () => {
    const values = [`Bearer ${TOKEN} extra`, `Basic ${TOKEN}`, `Bearer\t${TOKEN}`];
    for (const value of values) {
      const result = extractToken(view({ headers: { authorization: value } }), policy);
      expect(result.ok).toBe(false);
      expect(JSON.stringify(result)).not.toContain(TOKEN);
    }
  });
});

describe('extractToken: the DPoP scheme', () => {
  it('reads "DPoP <token>" only when DPoP is on, and says which scheme it was', () => {
    const v = view({ headers: { authorization: `DPoP ${TOKEN}` } });
    expect(extractToken(v, { ...policy, dpop: true })).toEqual({
      ok: true,
      token: TOKEN,
      scheme: 'dpop',
    });
    expect(
      extractToken(view({ headers: { authorization: `dpop  ${TOKEN}` } }), {
        ...policy,
        dpop: true,
      }),
    ).toMatchObject({ scheme: 'dpop' });
    expect(extractToken(v, policy)).toMatchObject({ ok: false, code: 'token_malformed' });
  });

  it('still reads Bearer tokens, and refuses other schemes', () => {
    const on = { ...policy, dpop: true };
    expect(extractToken(view({ headers: { authorization: `Bearer ${TOKEN}` } }), on)).toMatchObject(
      { scheme: 'bearer' },
    );
    expect(extractToken(view({ headers: { authorization: `DPoPx ${TOKEN}` } }), on)).toMatchObject({
      ok: false,
      code: 'token_malformed',
    });
  });
});
