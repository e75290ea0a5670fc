/**
 * Tokens shaped as identity providers issue them (Auth0, Okta, Entra ID, Keycloak, Amazon
 * Cognito, and a server writing `scope` as a list): each is accepted with the claim options that
 * fit its provider, through `jwt` and through a trusted issuer, and is refused (or gets none of
 * its scopes) under the strict defaults, with a detail that says why.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import {
  createWarden,
  MemorySink,
  TrustedIssuers,
  type ClaimProfile,
  type Decision,
  type Warden,
} from '@tokenwarden/core';
import { testKeys } from '@tokenwarden/testing';
import { resolveOptions } from '../../src/options/resolve';
import { derivedTokenId, verifyJwt, type VerifiedToken } from '../../src/verify/jwt';
import { bearer } from '../support';

const NOW = Date.now();
const IAT = Math.floor(NOW / 1000) - 10;

interface Provider {
  readonly name: string;
  readonly issuer: string;
  readonly audience: string;
  readonly kid: string;
  readonly header: Readonly<Record<string, unknown>>;
  readonly claims: Readonly<Record<string, unknown>>;
  /** The claim options that fit this provider (plus a longer lifetime where it needs one). */
  readonly options: ClaimProfile & { readonly maxLifetimeMs?: number };
  /** What the accepted token gives. */
  readonly accepted: Partial<VerifiedToken>;
  /** A scope a route of this API would require. */
  readonly routeScope: string;
  /** Under the strict defaults: a refusal and its detail, or `undefined` for "no scopes". */
  readonly strict: { readonly code: string; readonly detail: string } | undefined;
}

const PROVIDERS: readonly Provider[] = [
  {
    name: 'Auth0 (no jti, scope plus permissions)',
    issuer: 'https://tenant.eu.auth0.com/',
    audience: 'https://orders.example.com',
    kid: 'NjVBRjY5MDlCMUIwNzU4RTA2QzZFMDQ4QzQ2MDAyQjVDNjk1RTM2Qg',
    header: { typ: 'JWT' },
    claims: {
      iss: 'https://tenant.eu.auth0.com/',
      sub: 'auth0|64f1c2a9b3e4d5f6a7b8c9d0',
      aud: ['https://orders.example.com', 'https://tenant.eu.auth0.com/userinfo'],
      iat: IAT,
      exp: IAT + 3600,
      azp: 'yG8sVcA1kZt9pQ2rL5mN7bX3dF6hJ0wE',
      scope: 'openid profile orders:read',
      permissions: ['orders:read', 'orders:write'],
    },
    options: { requireTokenId: false, permissionsClaim: 'permissions' },
    accepted: {
      subject: 'auth0|64f1c2a9b3e4d5f6a7b8c9d0',
      client: 'yG8sVcA1kZt9pQ2rL5mN7bX3dF6hJ0wE',
      scopes: ['openid', 'profile', 'orders:read', 'orders:write'],
    },
    routeScope: 'orders:write',
    strict: {
      code: 'token_claims_invalid',
      detail: 'jti missing (requireTokenId: false accepts tokens without one)',
    },
  },
  {
    name: 'Okta (scp as a list, client in cid)',
    issuer: 'https://example.okta.com/oauth2/default',
    audience: 'api://default',
    kid: 'Zy0f9fQ1pYkgW4VJ8s2mHc3Ux2r0ZbA7n9qLwQ1eT3k',
    header: {},
    claims: {
      ver: 1,
      jti: 'AT.3nM1uRkz8x3CqYH1jS2-2vUuE0mCz6oDm1mQxJ5sV0A',
      iss: 'https://example.okta.com/oauth2/default',
      aud: 'api://default',
      iat: IAT,
      exp: IAT + 3600,
      cid: '0oa1b2c3d4e5f6g7h8i9',
      uid: '00u1a2b3c4d5e6f7g8h9',
      scp: ['openid', 'orders:read'],
      auth_time: IAT - 60,
      sub: 'alice@example.com',
    },
    options: { permissionsClaim: 'scp', clientClaim: 'cid' },
    accepted: {
      tokenId: 'AT.3nM1uRkz8x3CqYH1jS2-2vUuE0mCz6oDm1mQxJ5sV0A',
      subject: 'alice@example.com',
      client: '0oa1b2c3d4e5f6g7h8i9',
      scopes: ['openid', 'orders:read'],
    },
    routeScope: 'orders:read',
    strict: undefined,
  },
  {
    name: 'Entra ID v2 (no jti, scp a string, roles a list, 75-minute lifetime)',
    issuer: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0',
    audience: '6e74172b-be56-4843-9ff4-e66a39bb12e3',
    kid: 'kWbkaa6qs8wsTnBwiiNYOhHbnAw',
    header: { typ: 'JWT' },
    claims: {
      aud: '6e74172b-be56-4843-9ff4-e66a39bb12e3',
      iss: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0',
      iat: IAT,
      nbf: IAT,
      exp: IAT + 4500,
      aio: 'AXQAi/8TAAAAbuMEZK4X0pGdUkx0iLq3eE1iVQo6Cv4dZ0qB0p8X6z0=',
      azp: '4d1f0c9e-2b8a-4c53-9d6e-7f3a1b2c3d4e',
      azpacr: '0',
      name: 'Alice Example',
      oid: '690222be-ff1a-4d56-abd1-7e4f7d38e474',
      preferred_username: 'alice@contoso.com',
      rh: '0.ARoAv4j5cvGGr0GRqy180BHbR-4oKUCTVRZLtGtDbUFP0k4aAAA.',
      scp: 'Orders.Read Orders.Write',
      roles: ['Orders.Admin'],
      sub: 'AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ',
      tid: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      uti: 'fqiBqXLPj0eQa82S-IYFAA',
      ver: '2.0',
    },
    options: {
      requireTokenId: false,
      permissionsClaim: ['scp', 'roles'],
      maxLifetimeMs: 5_400_000,
    },
    accepted: {
      subject: 'AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ',
      client: '4d1f0c9e-2b8a-4c53-9d6e-7f3a1b2c3d4e',
      scopes: ['Orders.Read', 'Orders.Write', 'Orders.Admin'],
    },
    routeScope: 'Orders.Admin',
    strict: {
      code: 'token_claims_invalid',
      detail: 'jti missing (requireTokenId: false accepts tokens without one)',
    },
  },
  {
    name: 'Keycloak (azp, realm and client roles)',
    issuer: 'https://sso.example.com/realms/staff',
    audience: 'orders-api',
    kid: 'x2X0d8m0VxJ1m7bQ9wVd3n1kq8WZ3rXo5f3cQ0JwY1s',
    header: { typ: 'JWT' },
    claims: {
      exp: IAT + 300,
      iat: IAT,
      auth_time: IAT - 30,
      jti: 'onrtac:5c1f0e2a-8d0b-4d6e-9a8b-0f2e3d4c5b6a',
      iss: 'https://sso.example.com/realms/staff',
      aud: ['orders-api', 'account'],
      sub: 'f3b5c8d2-1a2b-4c3d-8e9f-0a1b2c3d4e5f',
      typ: 'Bearer',
      azp: 'orders-web',
      sid: '7c2f1e0d-9b8a-4c3d-2e1f-0a9b8c7d6e5f',
      acr: '1',
      'allowed-origins': ['https://app.example.com'],
      realm_access: { roles: ['offline_access', 'uma_authorization', 'orders:read'] },
      resource_access: {
        account: { roles: ['manage-account'] },
        'orders-api': { roles: ['orders:write'] },
      },
      scope: 'openid profile email',
      email_verified: true,
      preferred_username: 'alice',
    },
    options: { permissionsClaim: ['/realm_access/roles', '/resource_access/orders-api/roles'] },
    accepted: {
      tokenId: 'onrtac:5c1f0e2a-8d0b-4d6e-9a8b-0f2e3d4c5b6a',
      client: 'orders-web',
      scopes: [
        'openid',
        'profile',
        'email',
        'offline_access',
        'uma_authorization',
        'orders:read',
        'orders:write',
      ],
    },
    routeScope: 'orders:write',
    strict: undefined,
  },
  {
    name: 'Amazon Cognito access token (no aud, client_id is the audience)',
    issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI',
    audience: '1example23456789',
    kid: 'abcdefghijklmnopqrsexample=',
    header: {},
    claims: {
      sub: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
      'cognito:groups': ['admins'],
      iss: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI',
      version: 2,
      client_id: '1example23456789',
      origin_jti: 'bbbbbbbb-cccc-dddd-eeee-ffffffffffff',
      event_id: 'cccccccc-dddd-eeee-ffff-aaaaaaaaaaaa',
      token_use: 'access',
      scope: 'orders/read orders/write',
      auth_time: IAT - 60,
      exp: IAT + 3600,
      iat: IAT,
      jti: 'dddddddd-eeee-ffff-aaaa-bbbbbbbbbbbb',
      username: 'alice',
    },
    options: { audienceClaim: 'client_id' },
    accepted: {
      tokenId: 'dddddddd-eeee-ffff-aaaa-bbbbbbbbbbbb',
      client: '1example23456789',
      scopes: ['orders/read', 'orders/write'],
    },
    routeScope: 'orders/write',
    strict: { code: 'audience_invalid', detail: 'aud missing' },
  },
  {
    name: 'scope written as a list',
    issuer: 'https://auth.example.org',
    audience: 'orders-api',
    kid: 'authorization-server-1',
    header: { typ: 'at+jwt' },
    claims: {
      iss: 'https://auth.example.org',
      sub: 'alice',
      aud: 'orders-api',
      nbf: IAT,
      iat: IAT,
      exp: IAT + 300,
      jti: '0f6e2a4b-1c3d-4e5f-8a9b-7c6d5e4f3a2b',
      scope: ['orders:read', 'orders:write'],
    },
    options: { scopeClaimFormat: 'string-or-array' },
    accepted: { subject: 'alice', scopes: ['orders:read', 'orders:write'] },
    routeScope: 'orders:write',
    strict: {
      code: 'token_claims_invalid',
      detail: 'scope is not a space-delimited string (scopeClaimFormat)',
    },
  },
];

function sign(provider: Provider): string {
  return jwt.sign(provider.claims, testKeys().rs256.privateKey, {
    algorithm: 'RS256',
    header: { alg: 'RS256', kid: provider.kid, ...provider.header } as jwt.JwtHeader,
  });
}

function jwtOptions(provider: Provider, profile: object) {
  return {
    algorithms: ['RS256' as const],
    keys: [{ kid: provider.kid, alg: 'RS256' as const, key: testKeys().rs256.publicKey }],
    issuer: provider.issuer,
    audience: provider.audience,
    ...profile,
  };
}

/** Only the lifetime of a provider's options: the strict claim profile otherwise. */
function lifetimeOf(provider: Provider): { maxLifetimeMs?: number } {
  const { maxLifetimeMs } = provider.options;
  return maxLifetimeMs === undefined ? {} : { maxLifetimeMs };
}

const wardens: Warden[] = [];
afterEach(async () => {
  for (const warden of wardens.splice(0)) await warden.close();
});

function warden(options: Parameters<typeof createWarden>[0]): { warden: Warden; sink: MemorySink } {
  const sink = new MemorySink();
  const made = createWarden({
    ...options,
    audit: { sinks: [sink], fingerprintKey: randomBytes(32) },
    metrics: false,
  });
  wardens.push(made);
  return { warden: made, sink };
}

describe.each(PROVIDERS)('$name', (provider) => {
  const token = sign(provider);

  it('is accepted by jwt with the fitting claim options', () => {
    const policy = resolveOptions({ jwt: jwtOptions(provider, provider.options) }).jwt!;
    const result = verifyJwt(token, policy, NOW);
    if (!result.ok) throw new Error(`refused: ${result.failure.detail}`);
    expect(result.token).toMatchObject(provider.accepted);
    if (provider.claims.jti === undefined) {
      expect(result.token.tokenId).toBe(derivedTokenId(token));
    }
  });

  it('is accepted by a trusted issuer with the same options, and allowed on its route', async () => {
    const { warden: w, sink } = warden({
      issuers: [
        {
          issuer: provider.issuer,
          audience: provider.audience,
          algorithms: ['RS256'],
          keys: [{ kid: provider.kid, alg: 'RS256', key: testKeys().rs256.publicKey }],
          ...provider.options,
        },
      ],
    });
    const decision = await w.check(bearer(token), { scopes: [provider.routeScope] });
    expect(decision).toMatchObject({ outcome: 'allow', principal: provider.accepted });
    await w.flushAudit();
    const tokenId = (provider.claims.jti as string | undefined) ?? derivedTokenId(token);
    expect(sink.events[0]).toMatchObject({ outcome: 'allow', tokenId });
  });

  it('gets a clear answer under the strict defaults', async () => {
    const policy = resolveOptions({
      jwt: jwtOptions(provider, lifetimeOf(provider)),
    }).jwt!;
    const result = verifyJwt(token, policy, NOW);
    const { warden: w, sink } = warden({ jwt: jwtOptions(provider, lifetimeOf(provider)) });
    const decision: Decision = await w.check(bearer(token), { scopes: [provider.routeScope] });
    await w.flushAudit();
    if (provider.strict !== undefined) {
      expect(result).toMatchObject({ ok: false, failure: provider.strict });
      expect(decision).toMatchObject({ outcome: 'deny', status: 401, ...provider.strict });
      expect(decision.outcome === 'deny' && decision.body.detail).toBe(provider.strict.detail);
      expect(sink.events[0]?.detail).toEqual({ failure: provider.strict.detail });
    } else {
      // The token is valid, but its provider's scope claim is just a claim: the route refuses.
      if (!result.ok) throw new Error(`refused: ${result.failure.detail}`);
      expect(result.token.scopes).not.toContain(provider.routeScope);
      expect(decision).toMatchObject({ outcome: 'deny', status: 403, code: 'insufficient_scope' });
    }
  });
});

describe('tokens without jti (requireTokenId: false)', () => {
  const auth0 = PROVIDERS[0]!;

  it('are revocable by their derived id, which the audit trail shows', async () => {
    const { warden: w, sink } = warden({ jwt: jwtOptions(auth0, auth0.options) });
    const token = sign(auth0);
    const id = derivedTokenId(token);
    expect(id).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/);
    expect(await w.check(bearer(token))).toMatchObject({ outcome: 'allow' });
    await w.flushAudit();
    expect(sink.events[0]?.tokenId).toBe(id);
    await w.revokeToken(id);
    expect(await w.check(bearer(token))).toMatchObject({ outcome: 'deny', code: 'token_revoked' });
  });

  it('still refuses a jti that is present but invalid', () => {
    const policy = resolveOptions({ jwt: jwtOptions(auth0, auth0.options) }).jwt!;
    const bad = jwt.sign({ ...auth0.claims, jti: '' }, testKeys().rs256.privateKey, {
      algorithm: 'RS256',
      keyid: auth0.kid,
    });
    expect(verifyJwt(bad, policy, NOW)).toMatchObject({
      ok: false,
      failure: {
        code: 'token_claims_invalid',
        detail: 'jti invalid: must be 1 to maxClaimLength characters, no control characters',
      },
    });
  });
});

describe('audienceClaim', () => {
  const cognito = PROVIDERS[4]!;
  const policy = () => resolveOptions({ jwt: jwtOptions(cognito, cognito.options) }).jwt!;

  it('refuses a Cognito ID token (aud, no client_id) where an access token is expected', () => {
    const rest: Record<string, unknown> = { ...cognito.claims };
    delete rest.client_id;
    const idToken = jwt.sign(
      { ...rest, aud: '1example23456789', token_use: 'id' },
      testKeys().rs256.privateKey,
      { algorithm: 'RS256', keyid: cognito.kid },
    );
    expect(verifyJwt(idToken, policy(), NOW)).toMatchObject({
      ok: false,
      failure: { code: 'audience_invalid', detail: 'audienceClaim: the claim is missing' },
    });
  });

  it('refuses another app client', () => {
    const other = jwt.sign(
      { ...cognito.claims, client_id: 'another-app-client' },
      testKeys().rs256.privateKey,
      { algorithm: 'RS256', keyid: cognito.kid },
    );
    expect(verifyJwt(other, policy(), NOW)).toMatchObject({
      ok: false,
      failure: { code: 'audience_invalid', detail: 'audienceClaim: the claim is not accepted' },
    });
  });

  it('works the same with EdDSA keys (checked without the JWT library)', () => {
    const { privateKey, publicKey } = newEd25519();
    const policyEd = resolveOptions({
      jwt: {
        algorithms: ['EdDSA'],
        keys: [{ kid: 'ed', alg: 'EdDSA', key: publicKey }],
        issuer: cognito.issuer,
        audience: cognito.audience,
        audienceClaim: 'client_id',
      },
    }).jwt!;
    const sign = (claims: object) => edSign(claims, privateKey);
    expect(verifyJwt(sign(cognito.claims), policyEd, NOW).ok).toBe(true);
    expect(verifyJwt(sign({ ...cognito.claims, client_id: 'x' }), policyEd, NOW)).toMatchObject({
      ok: false,
      failure: { detail: 'audienceClaim: the claim is not accepted' },
    });
  });
});

describe('the claim options as trusted-issuer defaults', () => {
  it('apply to every issuer that sets none, and an issuer may override them', async () => {
    const entra = PROVIDERS[2]!;
    const auth0 = PROVIDERS[0]!;
    const key = { alg: 'RS256' as const, key: testKeys().rs256.publicKey };
    const issuers = new TrustedIssuers({
      requireTokenId: false,
      maxLifetimeMs: 5_400_000,
      issuers: [
        {
          issuer: entra.issuer,
          audience: entra.audience,
          algorithms: ['RS256'],
          keys: [{ ...key, kid: entra.kid }],
          permissionsClaim: ['scp', 'roles'],
        },
        {
          issuer: auth0.issuer,
          audience: auth0.audience,
          algorithms: ['RS256'],
          keys: [{ ...key, kid: auth0.kid }],
          requireTokenId: true,
        },
      ],
    });
    const fromEntra = await issuers.verify(sign(entra), NOW);
    expect(fromEntra).toMatchObject({ ok: true, token: { scopes: entra.accepted.scopes } });
    expect(await issuers.verify(sign(auth0), NOW)).toMatchObject({
      ok: false,
      failure: { detail: 'jti missing (requireTokenId: false accepts tokens without one)' },
    });
  });
});

function newEd25519() {
  return generateKeyPairSync('ed25519');
}

function edSign(claims: object, privateKey: KeyObject): string {
  const h = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: 'ed' })).toString('base64url');
  const p = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const s = cryptoSign(null, Buffer.from(`${h}.${p}`), privateKey).toString('base64url');
  return `${h}.${p}.${s}`;
}
