import { createHmac } from 'node:crypto';
import {
  ApiKeys,
  MemoryCredentialStore,
  type AuditEvent,
  type ErrorCode,
  type Warden,
} from '@tokenwarden/core';
import { mintToken, segment, testKeys } from '@tokenwarden/testing';
import type { SwitchableStore } from './switchable-store';

/** What a scenario can use: the warden, the store switch and a name unique to the scenario. */
export interface ScenarioContext {
  readonly warden: Warden;
  readonly store: SwitchableStore;
  /** Unique per scenario and run: use it in subjects, clients and customer ids. */
  readonly id: string;
  /** Set by `setup` for the request. */
  token?: string;
  /** The id of the API key `setup` created, if any. */
  keyId?: string;
}

export interface Scenario {
  readonly name: string;
  readonly setup?: (ctx: ScenarioContext) => Promise<void> | void;
  readonly method?: 'GET' | 'PUT';
  readonly path: (ctx: ScenarioContext) => string;
  /** Header values; arrays send the header several times. */
  readonly headers?: (ctx: ScenarioContext) => Record<string, string | string[]>;
  readonly teardown?: (ctx: ScenarioContext) => Promise<void> | void;
  readonly expect: {
    readonly status: number;
    /** Body `code`; absent for allows. */
    readonly code?: ErrorCode;
    /** Exact `WWW-Authenticate`, a pattern, or `null` for "absent". */
    readonly wwwAuthenticate: string | RegExp | null;
    /** Audit event `reason` (and metric `reason` label). */
    readonly reason: string;
    /** Further audit fields expected on the decision event. */
    readonly audit?: (ctx: ScenarioContext) => Partial<AuditEvent>;
    /** Text that must appear nowhere in the audit trail afterwards (a raw path, an e-mail). */
    readonly notInTrail?: readonly string[];
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const withToken = (ctx: ScenarioContext) => bearer(ctx.token!);
const invalidToken = (description: string) =>
  new RegExp(`^Bearer realm="api", error="invalid_token", error_description="${description}"$`);
const sec = (ms: number) => Math.floor(ms / 1000);
const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, never>;

function sign(header: object, claims: object, key: Buffer | string): string {
  const input = `${segment(header)}.${segment(claims)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

function baseClaims(ctx: ScenarioContext, extra: object = {}) {
  const iat = sec(Date.now());
  return {
    iss: 'https://issuer.test/',
    aud: 'tokenwarden-test-api',
    sub: `user-${ctx.id}`,
    jti: `jti-${ctx.id}`,
    iat,
    exp: iat + 300,
    scope: 'customers:read',
    ...extra,
  };
}

/** A request to /plain with a token the warden must refuse with 401 `code`. */
const badToken = (
  name: string,
  mint: (ctx: ScenarioContext) => string,
  code: ErrorCode,
  description: string,
): Scenario => ({
  name,
  setup: (ctx) => void (ctx.token = mint(ctx)),
  path: () => '/plain',
  headers: withToken,
  expect: unauthorized(code, description),
});

const allow = (
  reason = 'authorized',
  audit?: (ctx: ScenarioContext) => Partial<AuditEvent>,
): Scenario['expect'] => ({
  status: 200,
  wwwAuthenticate: null,
  reason,
  ...(audit ? { audit } : {}),
});
const unauthorized = (code: ErrorCode, description: string): Scenario['expect'] => ({
  status: 401,
  code,
  wwwAuthenticate: invalidToken(description),
  reason: code,
});

/** Claims that pass the claim checks of `/tenants/:id/reports`. */
const AUDITOR = { tenant: 'acme', roles: ['viewer', 'auditor'], email_verified: true };

/** API keys of the conformance apps (every app accepts them through `apiKeys`). */
export const API_KEY_STORE = new MemoryCredentialStore();
const apiKeys = new ApiKeys({ store: API_KEY_STORE });

/** Creates an API key for the scenario's client, with these scopes. */
async function apiKey(ctx: ScenarioContext, scopes: readonly string[]): Promise<string> {
  const { key, record } = await apiKeys.create({ client: `svc-${ctx.id}`, scopes });
  ctx.keyId = record.keyId;
  return key;
}

/** The scenario table: every scenario runs on every adapter and every store. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'API key with the scope',
    setup: async (ctx) => void (ctx.token = await apiKey(ctx, ['customers:read'])),
    path: () => '/customers/c1',
    headers: withToken,
    expect: {
      status: 200,
      wwwAuthenticate: null,
      reason: 'authorized',
      audit: (ctx) => ({ tokenId: ctx.keyId, subject: `svc-${ctx.id}`, client: `svc-${ctx.id}` }),
    },
  },
  {
    name: 'API key without the scope',
    setup: async (ctx) => void (ctx.token = await apiKey(ctx, ['customers:read'])),
    method: 'PUT',
    path: () => '/customers/c1',
    headers: withToken,
    expect: {
      status: 403,
      code: 'insufficient_scope',
      wwwAuthenticate:
        'Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="customers:write"',
      reason: 'insufficient_scope',
    },
  },
  {
    name: 'API key with a typo (checksum)',
    setup: async (ctx) => {
      const key = await apiKey(ctx, ['customers:read']);
      const i = key.length - 10;
      ctx.token = key.slice(0, i) + (key[i] === 'a' ? 'b' : 'a') + key.slice(i + 1);
    },
    path: () => '/plain',
    headers: withToken,
    expect: unauthorized('token_malformed', 'The access token is malformed'),
  },
  {
    name: 'revoked API key',
    setup: async (ctx) => {
      ctx.token = await apiKey(ctx, ['customers:read']);
      await apiKeys.revoke(ctx.keyId!);
    },
    path: () => '/plain',
    headers: withToken,
    expect: unauthorized('token_revoked', 'The access token has been revoked'),
  },
  ...(['HS256', 'RS256', 'ES256'] as const).map((alg): Scenario => ({
    name: `valid ${alg} token`,
    setup: (ctx) => void (ctx.token = mintToken({ alg, claims: { sub: `user-${ctx.id}` } })),
    path: () => '/customers/c1',
    headers: withToken,
    expect: allow('authorized', (ctx) => ({
      route: '/customers/:id',
      status: 200,
      method: 'GET',
      subject: `user-${ctx.id}`,
    })),
  })),
  {
    name: 'lower-case bearer scheme',
    setup: (ctx) => void (ctx.token = mintToken()),
    path: () => '/plain',
    headers: (ctx) => ({ authorization: `bearer ${ctx.token}` }),
    expect: allow(),
  },
  {
    name: 'no token',
    path: () => '/plain',
    expect: {
      status: 401,
      code: 'token_missing',
      wwwAuthenticate: 'Bearer realm="api"',
      reason: 'token_missing',
    },
  },
  {
    name: 'not a JWT',
    path: () => '/plain',
    headers: () => bearer('not-a-jwt'),
    expect: unauthorized('token_malformed', 'The access token is malformed'),
  },
  {
    name: 'Basic scheme',
    path: () => '/plain',
    headers: () => ({ authorization: 'Basic dXNlcjpwYXNz' }),
    // No Bearer credential at all: the challenge has no error code (RFC 6750 §3.1).
    expect: {
      status: 401,
      code: 'token_malformed',
      wwwAuthenticate: 'Bearer realm="api"',
      reason: 'token_malformed',
    },
  },
  {
    name: 'alg none',
    setup: (ctx) =>
      void (ctx.token = `${segment({ alg: 'none', typ: 'JWT' })}.${segment(baseClaims(ctx))}.`),
    path: () => '/plain',
    headers: withToken,
    expect: unauthorized('algorithm_not_allowed', 'The access token algorithm is not allowed'),
  },
  {
    name: 'HS256 signed with the RSA public key (key confusion)',
    setup: (ctx) => {
      const pem = testKeys().rs256.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      ctx.token = sign({ alg: 'HS256', typ: 'JWT', kid: 'rs-1' }, baseClaims(ctx), pem);
    },
    path: () => '/plain',
    headers: withToken,
    expect: unauthorized('algorithm_not_allowed', 'The access token algorithm is not allowed'),
  },
  {
    name: 'altered payload',
    setup: (ctx) => {
      const [h, , s] = mintToken().split('.');
      ctx.token = `${h}.${segment(baseClaims(ctx, { scope: 'customers:read admin' }))}.${s}`;
    },
    path: () => '/plain',
    headers: withToken,
    expect: unauthorized('invalid_signature', 'The access token signature is invalid'),
  },
  badToken(
    'unknown kid',
    () => mintToken({ header: { kid: 'nobody' } }),
    'key_unknown',
    'The access token is signed with an unknown key',
  ),
  badToken(
    'wrong issuer',
    () => mintToken({ claims: { iss: 'https://evil.test/' } }),
    'issuer_invalid',
    'The access token issuer is not accepted',
  ),
  badToken(
    'wrong audience',
    () => mintToken({ claims: { aud: 'another-api' } }),
    'audience_invalid',
    'The access token audience is not accepted',
  ),
  badToken(
    'expired',
    () => mintToken({ now: Date.now() - 3_600_000 }),
    'token_expired',
    'The access token has expired',
  ),
  badToken(
    'not yet valid (nbf)',
    () => mintToken({ claims: { nbf: sec(Date.now()) + 120 } }),
    'token_not_yet_valid',
    'The access token is not valid yet',
  ),
  badToken(
    'issued in the future (iat)',
    () => mintToken({ now: Date.now() + 120_000 }),
    'token_not_yet_valid',
    'The access token is not valid yet',
  ),
  badToken(
    'lifetime above the maximum',
    () => mintToken({ lifetimeSeconds: 7200 }),
    'token_lifetime_exceeded',
    'The access token lives longer than allowed',
  ),
  badToken(
    'missing jti',
    () => mintToken({ claims: { jti: undefined } }),
    'token_claims_invalid',
    'The access token claims are invalid',
  ),
  {
    name: 'string-typed exp',
    setup: (ctx) =>
      void (ctx.token = sign(
        { alg: 'HS256', typ: 'JWT', kid: 'hs-1' },
        baseClaims(ctx, { exp: String(sec(Date.now()) + 300) }),
        testKeys().hs256,
      )),
    path: () => '/plain',
    headers: withToken,
    expect: unauthorized('token_claims_invalid', 'The access token claims are invalid'),
  },
  badToken(
    'oversized token',
    () => mintToken({ claims: { pad: 'x'.repeat(9000) } }),
    'token_too_large',
    'The access token is too large',
  ),
  {
    name: 'two Authorization headers',
    setup: (ctx) => void (ctx.token = mintToken()),
    path: () => '/plain',
    headers: (ctx) => ({ authorization: [`Bearer ${ctx.token}`, `Bearer ${ctx.token}`] }),
    expect: {
      status: 400,
      code: 'token_multiple',
      wwwAuthenticate: /^Bearer realm="api", error="invalid_request"/,
      reason: 'token_multiple',
    },
  },
  {
    name: 'header plus query token',
    setup: (ctx) => void (ctx.token = mintToken()),
    path: (ctx) => `/plain?access_token=${ctx.token}`,
    headers: withToken,
    expect: {
      status: 400,
      code: 'token_multiple',
      wwwAuthenticate: /^Bearer realm="api", error="invalid_request"/,
      reason: 'token_multiple',
    },
  },
  {
    name: 'revoked token id',
    setup: async (ctx) => {
      ctx.token = mintToken();
      await ctx.warden.revokeToken(claimsOf(ctx.token).jti);
    },
    path: () => '/plain',
    headers: withToken,
    expect: unauthorized('token_revoked', 'The access token has been revoked'),
  },
  {
    name: 'revoked subject',
    setup: async (ctx) => {
      ctx.token = mintToken({ claims: { sub: `user-${ctx.id}` } });
      await ctx.warden.revokeSubject(`user-${ctx.id}`);
    },
    path: () => '/plain',
    headers: withToken,
    expect: unauthorized('token_revoked', 'The access token has been revoked'),
  },
  {
    name: 'token issued after a subject revocation',
    setup: async (ctx) => {
      await ctx.warden.revokeSubject(`user-${ctx.id}`, { before: Date.now() - 30_000 });
      ctx.token = mintToken({ claims: { sub: `user-${ctx.id}` } });
    },
    path: () => '/plain',
    headers: withToken,
    expect: allow(),
  },
  {
    name: 'revoked client',
    setup: async (ctx) => {
      ctx.token = mintToken({ claims: { client_id: `client-${ctx.id}` } });
      await ctx.warden.revokeClient(`client-${ctx.id}`);
    },
    path: () => '/plain',
    headers: withToken,
    expect: unauthorized('token_revoked', 'The access token has been revoked'),
  },
  {
    name: 'revoked for everyone',
    setup: async (ctx) => {
      // Old enough that no other scenario's token predates the mark.
      ctx.token = mintToken({ now: Date.now() - 400_000, lifetimeSeconds: 600 });
      await ctx.warden.revokeAll({ before: Date.now() - 350_000 });
    },
    path: () => '/plain',
    headers: withToken,
    expect: unauthorized('token_revoked', 'The access token has been revoked'),
  },
  {
    name: 'scope missing',
    setup: (ctx) => void (ctx.token = mintToken()),
    method: 'PUT',
    path: () => '/customers/c1',
    headers: withToken,
    expect: {
      status: 403,
      code: 'insufficient_scope',
      wwwAuthenticate:
        'Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="customers:write"',
      reason: 'insufficient_scope',
    },
  },
  {
    name: 'any-of scopes: one of them',
    setup: (ctx) => void (ctx.token = mintToken({ claims: { scope: 'reports:admin' } })),
    path: () => '/reports',
    headers: withToken,
    expect: allow('authorized', () => ({ route: '/reports' })),
  },
  {
    name: 'any-of scopes: none of them',
    setup: (ctx) => void (ctx.token = mintToken()),
    path: () => '/reports',
    headers: withToken,
    expect: {
      status: 403,
      code: 'insufficient_scope',
      wwwAuthenticate:
        'Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="reports:read reports:admin"',
      reason: 'insufficient_scope',
    },
  },
  {
    name: 'claim checks: all pass',
    setup: (ctx) => void (ctx.token = mintToken({ claims: AUDITOR })),
    path: () => '/tenants/acme/reports',
    headers: withToken,
    expect: allow('authorized', () => ({ route: '/tenants/:id/reports' })),
  },
  ...(
    [
      ['claimEquals', { tenant: 'other' }],
      ['claimIncludes', { roles: 'auditor-trainee viewer' }],
      ['claimCheck', { email_verified: 'true' }],
    ] as const
  ).map(([step, claims]): Scenario => ({
    name: `claim checks: ${step} fails`,
    setup: (ctx) => void (ctx.token = mintToken({ claims: { ...AUDITOR, ...claims } })),
    path: () => '/tenants/acme/reports',
    headers: withToken,
    expect: {
      status: 403,
      code: 'claim_check_failed',
      wwwAuthenticate: null,
      reason: 'claim_check_failed',
    },
  })),
  {
    name: 'claim checks: no token',
    path: () => '/tenants/acme/reports',
    expect: {
      status: 401,
      code: 'token_missing',
      wwwAuthenticate: 'Bearer realm="api"',
      reason: 'token_missing',
    },
  },
  {
    name: 'consent granted',
    setup: async (ctx) => {
      await ctx.warden.grantConsent({ subject: `cust-${ctx.id}`, purpose: 'marketing' });
      ctx.token = mintToken({ claims: { scope: 'marketing:read' } });
    },
    path: (ctx) => `/customers/cust-${ctx.id}/profile`,
    headers: withToken,
    expect: allow('consent', (ctx) => ({
      dataSubject: `cust-${ctx.id}`,
      purpose: 'marketing',
      lawfulBasis: 'consent',
      route: '/customers/:id/profile',
    })),
  },
  {
    name: 'consent of the token subject (default data subject)',
    setup: async (ctx) => {
      await ctx.warden.grantConsent({ subject: `user-${ctx.id}`, purpose: 'marketing' });
      ctx.token = mintToken({ claims: { sub: `user-${ctx.id}` } });
    },
    path: () => '/me/profile',
    headers: withToken,
    expect: allow('consent', (ctx) => ({ purpose: 'marketing', dataSubject: `user-${ctx.id}` })),
  },
  {
    name: 'consent missing',
    setup: (ctx) => void (ctx.token = mintToken({ claims: { scope: 'marketing:read' } })),
    path: (ctx) => `/customers/cust-${ctx.id}/profile`,
    headers: withToken,
    expect: {
      status: 403,
      code: 'consent_missing',
      wwwAuthenticate: null,
      reason: 'consent_missing',
    },
  },
  {
    name: 'consent expired',
    setup: async (ctx) => {
      await ctx.warden.grantConsent({
        subject: `cust-${ctx.id}`,
        purpose: 'marketing',
        expiresAt: Date.now() - 1_000,
      });
      ctx.token = mintToken({ claims: { scope: 'marketing:read' } });
    },
    path: (ctx) => `/customers/cust-${ctx.id}/profile`,
    headers: withToken,
    expect: {
      status: 403,
      code: 'consent_expired',
      wwwAuthenticate: null,
      reason: 'consent_expired',
    },
  },
  {
    name: 'consent withdrawn',
    setup: async (ctx) => {
      await ctx.warden.grantConsent({ subject: `cust-${ctx.id}`, purpose: 'marketing' });
      await ctx.warden.withdrawConsent({ subject: `cust-${ctx.id}`, purpose: 'marketing' });
      ctx.token = mintToken({ claims: { scope: 'marketing:read' } });
    },
    path: (ctx) => `/customers/cust-${ctx.id}/profile`,
    headers: withToken,
    expect: {
      status: 403,
      code: 'consent_withdrawn',
      wwwAuthenticate: null,
      reason: 'consent_withdrawn',
    },
  },
  {
    name: 'consent withdrawn then re-granted: a token from before the withdrawal stays refused',
    setup: async (ctx) => {
      ctx.token = mintToken({ claims: { scope: 'marketing:read' }, now: Date.now() - 20_000 });
      await ctx.warden.grantConsent({ subject: `cust-${ctx.id}`, purpose: 'marketing' });
      await ctx.warden.withdrawConsent({ subject: `cust-${ctx.id}`, purpose: 'marketing' });
      await ctx.warden.grantConsent({ subject: `cust-${ctx.id}`, purpose: 'marketing' });
    },
    path: (ctx) => `/customers/cust-${ctx.id}/profile`,
    headers: withToken,
    expect: {
      status: 403,
      code: 'consent_withdrawn',
      wwwAuthenticate: null,
      reason: 'consent_withdrawn',
    },
  },
  {
    name: 'consent withdrawn then re-granted: a token issued after the withdrawal passes',
    setup: async (ctx) => {
      await ctx.warden.grantConsent({ subject: `cust-${ctx.id}`, purpose: 'marketing' });
      await ctx.warden.withdrawConsent({ subject: `cust-${ctx.id}`, purpose: 'marketing' });
      // A grant in the same millisecond as the withdrawal does not count as after it.
      await new Promise((resolve) => setTimeout(resolve, 5));
      await ctx.warden.grantConsent({ subject: `cust-${ctx.id}`, purpose: 'marketing' });
      // iat has whole-second precision: issue in the next second, inside the clock tolerance.
      ctx.token = mintToken({ claims: { scope: 'marketing:read' }, now: Date.now() + 1_500 });
    },
    path: (ctx) => `/customers/cust-${ctx.id}/profile`,
    headers: withToken,
    expect: allow('consent'),
  },
  {
    name: 'lawful basis other than consent',
    setup: (ctx) => void (ctx.token = mintToken()),
    path: () => '/invoices',
    headers: withToken,
    expect: allow('lawful_basis', () => ({
      lawfulBasis: 'legal_obligation',
      purpose: 'billing',
      route: '/invoices',
    })),
  },
  {
    name: 'public route without a token',
    path: () => '/health',
    expect: allow('public_route', () => ({ route: '/health' })),
  },
  {
    name: 'public route with a bad token',
    path: () => '/health',
    headers: () => bearer('a.b.c'),
    expect: unauthorized('token_malformed', 'The access token is malformed'),
  },
  {
    name: 'refused before routing: the trail keeps the method, never the raw path',
    path: () => '/customers/jane.doe@example.com',
    expect: {
      status: 401,
      code: 'token_missing',
      wwwAuthenticate: 'Bearer realm="api"',
      reason: 'token_missing',
      // Express and Koa refuse before routing ('(unmatched)'); Nest has matched the route.
      audit: () => ({ method: 'GET' }),
      notInTrail: ['jane.doe', 'example.com'],
    },
  },
  {
    name: 'refused by a route step: the trail keeps the route template, never the raw path',
    setup: (ctx) => void (ctx.token = mintToken({ claims: { sub: `user-${ctx.id}` } })),
    method: 'PUT',
    path: () => '/customers/jane.doe@example.com',
    headers: withToken,
    expect: {
      status: 403,
      code: 'insufficient_scope',
      wwwAuthenticate:
        'Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="customers:write"',
      reason: 'insufficient_scope',
      audit: () => ({ method: 'PUT', route: '/customers/:id' }),
      notInTrail: ['jane.doe', 'example.com'],
    },
  },
  {
    name: 'store down: fail closed',
    setup: (ctx) => {
      ctx.token = mintToken();
      ctx.store.failing = true;
    },
    teardown: (ctx) => void (ctx.store.failing = false),
    path: () => '/plain',
    headers: withToken,
    expect: {
      status: 503,
      code: 'store_unavailable',
      wwwAuthenticate: null,
      reason: 'store_unavailable',
    },
  },
];
