import { describe, expect, it } from '@jest/globals';
import type { RequestView } from '@tokenwarden/core';
import { AuditGateStage, ExtractStage } from '../../src/pipeline/stages/extract';
import { view } from '../support';
import { context, denials } from './support';

const policy = {
  header: 'authorization',
  cookie: undefined,
  queryParameter: undefined,
  maxTokenBytes: 64,
};

describe('ExtractStage alone', () => {
  const stage = new ExtractStage(policy, ['/health', /^\/public\//], denials);

  it('takes the one bearer token and goes on', () => {
    const ctx = context(view({ headers: { authorization: 'Bearer abc.def.ghi' } }));
    expect(stage.run(ctx)).toBeUndefined();
    expect(ctx.token).toBe('abc.def.ghi');
    expect(ctx.scheme).toBe('bearer');
    expect(ctx.isPublic).toBe(false);
  });

  it('refuses a request without a token on a protected route', () => {
    const ctx = context(view());
    expect(stage.run(ctx)).toMatchObject({ code: 'token_missing', status: 401 });
    expect(ctx.token).toBeUndefined();
  });

  it('lets a public path or a public requirement go on anonymously', () => {
    const byPath = context(view({ path: '/health' }));
    expect(stage.run(byPath)).toBeUndefined();
    expect(byPath.isPublic).toBe(true);
    const byPattern = context(view({ path: '/public/x' }));
    expect(stage.run(byPattern)).toBeUndefined();
    const byRequirement = context(view({ path: '/anything' }), { public: true });
    expect(stage.run(byRequirement)).toBeUndefined();
    expect(byRequirement.token).toBeUndefined();
  });

  it('still refuses a malformed or oversized token on a public path', () => {
    const bad = context(view({ path: '/health', headers: { authorization: 'Bearer a b' } }));
    expect(stage.run(bad)).toMatchObject({ code: 'token_malformed' });
    const large = context(
      view({ path: '/health', headers: { authorization: `Bearer ${'a'.repeat(65)}` } }),
    );
    expect(stage.run(large)).toMatchObject({ code: 'token_too_large' });
  });

  it('answers another scheme (Basic) with a challenge without error code, RFC 6750 §3.1', () => {
    const ctx = context(view({ headers: { authorization: 'Basic dXNlcjpwYXNz' } }));
    const denial = stage.run(ctx);
    expect(denial).toMatchObject({
      status: 401,
      code: 'token_malformed',
      body: { code: 'token_malformed', status: 401 },
    });
    expect(denial?.headers['www-authenticate']).toBe('Bearer realm="api"');
    expect(ctx.token).toBeUndefined();
  });

  it('keeps error="invalid_token" for a malformed Bearer credential', () => {
    const ctx = context(view({ headers: { authorization: 'Bearer a b' } }));
    expect(stage.run(ctx)?.headers['www-authenticate']).toBe(
      'Bearer realm="api", error="invalid_token", error_description="The access token is malformed"',
    );
  });

  it('refuses two credentials', () => {
    const ctx = context(view({ headers: { authorization: ['Bearer a.b.c', 'Bearer d.e.f'] } }));
    expect(stage.run(ctx)).toMatchObject({ code: 'token_multiple', status: 400 });
  });
});

describe('ExtractStage with optional authentication (credentialsRequired: false)', () => {
  const stage = new ExtractStage({ ...policy, required: false }, [], denials);

  it('lets a request without any credential go on anonymously, on every path', () => {
    const ctx = context(view({ path: '/orders' }));
    expect(stage.run(ctx)).toBeUndefined();
    expect(ctx.token).toBeUndefined();
    // Not a public route: an authenticated caller is still audited as authorized.
    expect(ctx.isPublic).toBe(false);
  });

  it('still takes a credential that is sent, and refuses a bad one', () => {
    const good = context(view({ headers: { authorization: 'Bearer abc.def.ghi' } }));
    expect(stage.run(good)).toBeUndefined();
    expect(good.token).toBe('abc.def.ghi');
    const malformed = context(view({ headers: { authorization: 'Bearer a b' } }));
    expect(stage.run(malformed)).toMatchObject({ code: 'token_malformed', status: 401 });
    const basic = context(view({ headers: { authorization: 'Basic dXNlcjpwYXNz' } }));
    expect(stage.run(basic)).toMatchObject({ code: 'token_malformed', status: 401 });
    const two = context(view({ headers: { authorization: ['Bearer a.b.c', 'Bearer d.e.f'] } }));
    expect(stage.run(two)).toMatchObject({ code: 'token_multiple', status: 400 });
  });
});

describe("ExtractStage with the application's getToken", () => {
  const fromHeader = (name: string) => (request: RequestView) => request.headerValues(name)?.[0];

  it('reads the token from the getter instead of the Authorization header', () => {
    const stage = new ExtractStage({ ...policy, getToken: fromHeader('x-token') }, [], denials);
    const ctx = context(view({ headers: { 'x-token': 'abc.def.ghi' } }));
    expect(stage.run(ctx)).toBeUndefined();
    expect(ctx.token).toBe('abc.def.ghi');
    expect(ctx.scheme).toBe('bearer');
    // The header is not read at all: a Bearer token there is no credential.
    const header = context(view({ headers: { authorization: 'Bearer abc.def.ghi' } }));
    expect(stage.run(header)).toMatchObject({ code: 'token_missing' });
  });

  it('size-caps and token68-checks what the getter gives', () => {
    const stage = new ExtractStage({ ...policy, getToken: fromHeader('x-token') }, [], denials);
    const large = context(view({ headers: { 'x-token': 'a'.repeat(65) } }));
    expect(stage.run(large)).toMatchObject({ code: 'token_too_large' });
    const spaced = context(view({ headers: { 'x-token': 'Bearer abc' } }));
    expect(stage.run(spaced)).toMatchObject({ code: 'token_malformed' });
    const quote = context(view({ headers: { 'x-token': 'abc"def' } }));
    expect(stage.run(quote)).toMatchObject({ code: 'token_malformed' });
  });

  it('counts the getter as one credential next to a cookie or query token', () => {
    const stage = new ExtractStage(
      { ...policy, cookie: 'tw', getToken: fromHeader('x-token') },
      [],
      denials,
    );
    const both = context(
      view({ headers: { 'x-token': 'abc.def.ghi' }, cookies: { tw: 'jkl.mno.pqr' } }),
    );
    expect(stage.run(both)).toMatchObject({ code: 'token_multiple', status: 400 });
    const cookieOnly = context(view({ cookies: { tw: 'jkl.mno.pqr' } }));
    expect(stage.run(cookieOnly)).toBeUndefined();
    expect(cookieOnly.token).toBe('jkl.mno.pqr');
  });

  it('treats undefined or an empty string as no token, and a throw or a non-string as malformed', () => {
    const none = new ExtractStage({ ...policy, getToken: () => '' }, ['/health'], denials);
    expect(stage(none, view())).toMatchObject({ code: 'token_missing' });
    expect(stage(none, view({ path: '/health' }))).toBeUndefined();
    const throwing = new ExtractStage(
      {
        ...policy,
        getToken: () => {
          throw new Error('no session');
        },
      },
      [],
      denials,
    );
    expect(stage(throwing, view())).toMatchObject({ code: 'token_malformed', status: 401 });
    const numeric = new ExtractStage(
      { ...policy, getToken: (() => 42) as unknown as () => string },
      [],
      denials,
    );
    expect(stage(numeric, view())).toMatchObject({ code: 'token_malformed' });
  });

  function stage(extract: ExtractStage, request: RequestView) {
    return extract.run(context(request));
  }
});

describe('AuditGateStage alone', () => {
  it('refuses every request while the audit trail can store nothing', () => {
    const trail = { available: true };
    const stage = new AuditGateStage(trail, denials);
    expect(stage.run()).toBeUndefined();
    trail.available = false;
    expect(stage.run()).toMatchObject({ code: 'audit_unavailable', status: 503 });
  });
});
