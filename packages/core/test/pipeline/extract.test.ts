import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { AuditEventInput, RequestView } from '@tokenwarden/core';
import { ApiKeys, MemoryCredentialStore, noopMetrics } from '@tokenwarden/core/internal';
import { systemClock } from '../../src/internal/clock';
import { Pseudonymizer } from '../../src/audit/privacy';
import { CredentialExposure, queryCredentials } from '../../src/leaks/exposure';
import { LeakResponder } from '../../src/leaks/responder';
import type { StageOutcome, StageResult } from '../../src/pipeline/stage';
import { AuditGateStage, ExtractStage } from '../../src/pipeline/stages/extract';
import { view } from '../support';
import { context, denials } from './support';

/** A stage answer that must not wait: without an exposure to revoke, extraction never does. */
function now(result: StageResult): StageOutcome {
  if (result instanceof Promise) throw new Error('the stage answered with a promise');
  return result;
}

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
    const denial = now(stage.run(ctx));
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
    expect(now(stage.run(ctx))?.headers['www-authenticate']).toBe(
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

describe('ExtractStage with credentials seen in the query string', () => {
  /** A leak responder over an in-memory credential store, recording what it is asked to do. */
  function exposureParts() {
    const events: AuditEventInput[] = [];
    const revoked: string[] = [];
    const places: string[] = [];
    const credentials = new MemoryCredentialStore();
    const pseudonyms = new Pseudonymizer(randomBytes(32), 'truncate');
    const admin = {
      recordEvent: (event: AuditEventInput) => void events.push(event),
      revokeToken: async (tokenId: string) => void revoked.push(tokenId),
    };
    const leaks = new LeakResponder({
      jwt: undefined,
      credentials,
      admin,
      pseudonyms,
      metrics: { ...noopMetrics, credentialExposed: (place) => void places.push(place) },
      clock: systemClock,
      auditing: true,
      logError: () => undefined,
    });
    const apiKeys = new ApiKeys({ store: credentials, audit: admin, revoker: admin });
    return { events, revoked, places, credentials, pseudonyms, leaks, apiKeys };
  }

  it('counts and audits an ?access_token= by its fingerprint, and still refuses the request', () => {
    const parts = exposureParts();
    const stage = new ExtractStage(
      policy,
      [],
      denials,
      new CredentialExposure(parts.leaks, 'record'),
    );
    const secret = 'abc.def.ghi';
    const ctx = context(
      view({
        path: '/customers/42',
        route: '/customers/:id',
        url: `/customers/42?page=2&access_token=${secret}`,
      }),
    );
    // Record only: nothing waits, the answer is the same denial as without the exposure.
    expect(stage.run(ctx)).toMatchObject({ code: 'token_missing', status: 401 });
    expect(parts.places).toEqual(['query']);
    expect(parts.events).toHaveLength(1);
    expect(parts.events[0]).toMatchObject({
      type: 'credential.exposed',
      reason: 'query',
      tokenFingerprint: parts.pseudonyms.fingerprint(secret),
      route: '/customers/:id',
      detail: { place: 'query', parameter: 'access_token', action: 'recorded' },
    });
    expect(JSON.stringify(parts.events)).not.toContain(secret);
    expect(parts.revoked).toEqual([]);
    // Before routing (a middleware above the router) the raw path is not kept: it may name someone.
    stage.run(
      context(view({ path: '/customers/42', url: `/customers/42?access_token=${secret}` })),
    );
    expect(parts.events[1]).toMatchObject({ route: '(unmatched)' });
    expect(JSON.stringify(parts.events)).not.toContain('/customers/42');
  });

  it('looks no further on a URL without a credential-looking parameter', () => {
    const parts = exposureParts();
    const stage = new ExtractStage(
      policy,
      [],
      denials,
      new CredentialExposure(parts.leaks, 'record'),
    );
    for (const url of ['/orders', '/orders?page=2', '/orders?token=abc']) {
      expect(stage.run(context(view({ path: '/orders', url })))).toMatchObject({
        code: 'token_missing',
      });
    }
    expect(parts.places).toEqual([]);
    expect(parts.events).toEqual([]);
    expect(queryCredentials('/orders?page=2', undefined, 64)).toEqual([]);
  });

  it('finds an API key in any parameter, and skips the parameter the warden accepts', async () => {
    const parts = exposureParts();
    const { key } = await parts.apiKeys.create({ client: 'billing', scopes: ['orders:read'] });
    expect(queryCredentials(`/x?api_key=${key}`, undefined, 256)).toEqual([
      { secret: key, parameter: 'api_key' },
    ]);
    // A twk_ look-alike with a bad checksum is no credential of ours.
    const bent = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    expect(queryCredentials(`/x?api_key=${bent}`, undefined, 256)).toEqual([]);
    // The configured query parameter is an accepted place, not an exposure.
    expect(queryCredentials('/x?access_token=a.b.c', 'access_token', 256)).toEqual([]);
    const accepting = new ExtractStage(
      { ...policy, queryParameter: 'access_token' },
      [],
      denials,
      new CredentialExposure(parts.leaks, 'record'),
    );
    const ctx = context(view({ url: '/x?access_token=a.b.c' }));
    expect(accepting.run(ctx)).toBeUndefined();
    expect(ctx.token).toBe('a.b.c');
    expect(parts.events.filter((e) => e.type === 'credential.exposed')).toEqual([]);
    expect(parts.places).toEqual([]);
  });

  it("with onExposure: 'revoke', revokes an exposed API key before answering the denial", async () => {
    const parts = exposureParts();
    const { key, record } = await parts.apiKeys.create({ client: 'billing', scopes: ['a:b'] });
    parts.events.length = 0;
    const stage = new ExtractStage(
      policy,
      [],
      denials,
      new CredentialExposure(parts.leaks, 'revoke'),
    );
    const ctx = context(view({ path: '/orders', url: `/orders?access_token=${key}` }));
    const pending = stage.run(ctx);
    expect(pending).toBeInstanceOf(Promise);
    expect(await pending).toMatchObject({ code: 'token_missing', status: 401 });
    expect((await parts.credentials.getApiKey(record.keyId))?.revokedAt).toBeDefined();
    expect(parts.revoked).toEqual([record.keyId]);
    const exposed = parts.events.find((e) => e.type === 'credential.exposed');
    expect(exposed).toMatchObject({
      tokenId: record.keyId,
      client: 'billing',
      tokenFingerprint: parts.pseudonyms.fingerprint(key),
      detail: { action: 'revoked', kind: 'api_key' },
    });
    expect(parts.events.map((e) => e.type)).toContain('apikey.revoked');
    expect(JSON.stringify(parts.events)).not.toContain(key);
  });

  it("with onExposure: 'revoke', records an unknown credential without revoking anything", async () => {
    const parts = exposureParts();
    const stage = new ExtractStage(
      policy,
      [],
      denials,
      new CredentialExposure(parts.leaks, 'revoke'),
    );
    const ctx = context(view({ url: '/orders?access_token=not.ours.token' }));
    expect(await stage.run(ctx)).toMatchObject({ code: 'token_missing' });
    expect(parts.revoked).toEqual([]);
    expect(parts.events).toHaveLength(1);
    expect(parts.events[0]).toMatchObject({ detail: { action: 'not_found' } });
    expect(parts.events[0]!.tokenId).toBeUndefined();
  });
});
