import { describe, expect, it } from '@jest/globals';
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

describe('AuditGateStage alone', () => {
  it('refuses every request while the audit trail can store nothing', () => {
    const trail = { available: true };
    const stage = new AuditGateStage(trail, denials);
    expect(stage.run()).toBeUndefined();
    trail.available = false;
    expect(stage.run()).toMatchObject({ code: 'audit_unavailable', status: 503 });
  });
});
