import { afterEach, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  ConfigError,
  createWarden,
  generateCredential,
  REFRESH_TOKEN_TYPE,
  MemoryCredentialStore,
  MemorySink,
  MemoryStore,
  RefreshTokens,
  staticSigningKey,
  StoreUnavailableError,
  TokenEndpoint,
  TokenIssuer,
  type CredentialStore,
  type TokenEndpointResponse,
  type Warden,
} from '@tokenwarden/core/internal';
import { FakeClock } from '@tokenwarden/testing';
import { Registry } from 'prom-client';
import { bearer, sample } from '../support';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const secrets = {
  device: randomBytes(32).toString('base64url'),
  crm: randomBytes(32).toString('base64url'),
  web: randomBytes(32).toString('base64url'),
};
const wardens: Warden[] = [];
afterEach(async () => {
  await Promise.all(wardens.splice(0).map((w) => w.close()));
});

function setup(options: { credentials?: CredentialStore; registry?: Registry } = {}) {
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const sink = new MemorySink();
  const warden = createWarden({
    jwt: {
      algorithms: ['EdDSA'],
      keys: [{ kid: 'ed-1', alg: 'EdDSA', key: publicKey }],
      issuer: 'https://issuer.test/',
      audience: 'api',
    },
    store: new MemoryStore({ clock }),
    audit: { sinks: [sink], fingerprintKey: randomBytes(32) },
    clock,
    metrics: options.registry === undefined ? false : { registry: options.registry },
  });
  wardens.push(warden);
  let reuses = 0;
  const issuer = new TokenIssuer({
    issuer: 'https://issuer.test/',
    audience: 'api',
    keys: staticSigningKey({ kid: 'ed-1', alg: 'EdDSA', key: privateKey }),
    clients: {
      device: { scopes: ['telemetry:write', 'config:read'] },
      crm: { scopes: ['customers:read'] },
      web: { scopes: ['profile:read', 'orders:read'] },
    },
    audit: warden,
    metrics: warden.metrics,
    clock,
  });
  const refreshTokens = new RefreshTokens({
    store: options.credentials ?? new MemoryCredentialStore({ clock }),
    revoker: warden,
    audit: warden,
    metrics: {
      refreshReuseDetected: () => {
        reuses += 1;
        warden.metrics.refreshReuseDetected();
      },
    },
    clock,
  });
  const endpoint = new TokenEndpoint({
    issuer,
    clientSecrets: secrets,
    refreshTokens,
    refreshTokenClients: ['device'],
    audit: warden,
  });
  const post = (client: keyof typeof secrets | undefined, params: Record<string, string>) =>
    endpoint.handle({
      method: 'POST',
      header: (name) =>
        name === 'authorization' && client !== undefined
          ? `Basic ${Buffer.from(`${client}:${secrets[client]}`).toString('base64')}`
          : name === 'content-type'
            ? 'application/x-www-form-urlencoded'
            : undefined,
      body: new URLSearchParams(params).toString(),
    });
  const use = async (answer: TokenEndpointResponse) =>
    warden.check(bearer(answer.body.access_token as string));
  const events = async () => {
    await warden.flushAudit();
    return sink.events;
  };
  return { clock, warden, endpoint, post, use, events, reuses: () => reuses };
}

describe('TokenEndpoint: refresh_token grant', () => {
  it('gives chosen clients a refresh token with client_credentials, and others none', async () => {
    const { post } = setup();
    const device = await post('device', { grant_type: 'client_credentials' });
    expect(device.status).toBe(200);
    expect(device.body.refresh_token).toMatch(/^twr_live_/);
    expect(device.headers['cache-control']).toBe('no-store');
    const crm = await post('crm', { grant_type: 'client_credentials' });
    expect(crm.status).toBe(200);
    expect(crm.body).not.toHaveProperty('refresh_token');
  });

  it('rotates on every use; the new access token is accepted by the warden', async () => {
    const { post, use, clock, events } = setup();
    const first = await post('device', { grant_type: 'client_credentials' });
    clock.advance(60_000);
    const second = await post('device', {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token as string,
    });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({
      token_type: 'Bearer',
      scope: 'telemetry:write config:read',
      expires_in: 900,
    });
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
    expect(second.body.access_token).not.toBe(first.body.access_token);
    expect(await use(second)).toMatchObject({
      outcome: 'allow',
      principal: { subject: 'device', client: 'device' },
    });
    const third = await post('device', {
      grant_type: 'refresh_token',
      refresh_token: second.body.refresh_token as string,
    });
    expect(third.status).toBe(200);
    const refreshed = (await events()).filter((e) => e.type === 'token.refreshed');
    expect(refreshed).toHaveLength(2);
    expect(refreshed.every((e) => e.outcome === 'success' && e.client === 'device')).toBe(true);
    expect(JSON.stringify(await events())).not.toContain(first.body.refresh_token as string);
  });

  it('on reuse revokes the family and every access token issued from it, audited and counted', async () => {
    const { post, use, events, reuses } = setup();
    const first = await post('device', { grant_type: 'client_credentials' });
    const second = await post('device', {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token as string,
    });
    expect((await use(first)).outcome).toBe('allow');
    expect((await use(second)).outcome).toBe('allow');

    const replay = await post('device', {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token as string,
    });
    expect(replay.status).toBe(400);
    expect(replay.body).toEqual({
      error: 'invalid_grant',
      error_description: 'the refresh token is invalid, expired or revoked',
    });
    expect(reuses()).toBe(1);
    // Every access token of the family is refused by the resource server, through the store.
    expect(await use(first)).toMatchObject({ outcome: 'deny', code: 'token_revoked' });
    expect(await use(second)).toMatchObject({ outcome: 'deny', code: 'token_revoked' });
    // And the family's current refresh token is dead too.
    const current = await post('device', {
      grant_type: 'refresh_token',
      refresh_token: second.body.refresh_token as string,
    });
    expect(current.body.error).toBe('invalid_grant');
    const reuse = (await events()).find((e) => e.type === 'refresh.reuse_detected');
    expect(reuse).toMatchObject({
      outcome: 'deny',
      client: 'device',
      detail: { accessTokensRevoked: 2 },
    });
  });

  it('narrows scopes only: a subset is issued, a scope beyond the grant is refused and spends nothing', async () => {
    const { post, use } = setup();
    const first = await post('device', { grant_type: 'client_credentials', scope: 'config:read' });
    expect(first.body.scope).toBe('config:read');
    // telemetry:write is allowed for the client, but was not granted to this family.
    const wider = await post('device', {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token as string,
      scope: 'config:read telemetry:write',
    });
    expect(wider.status).toBe(400);
    expect(wider.body.error).toBe('invalid_scope');
    const foreign = await post('device', {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token as string,
      scope: 'customers:read',
    });
    expect(foreign.body.error).toBe('invalid_scope');
    // The refused requests spent nothing: the token still rotates (no reuse detection).
    const ok = await post('device', {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token as string,
    });
    expect(ok.status).toBe(200);
    expect(ok.body.scope).toBe('config:read');
    expect((await use(ok)).outcome).toBe('allow');
  });

  it('narrows to a subset of a wider family, which keeps its scopes for the next refresh', async () => {
    const { post } = setup();
    const first = await post('device', { grant_type: 'client_credentials' });
    const narrow = await post('device', {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token as string,
      scope: 'config:read',
    });
    expect(narrow.status).toBe(200);
    expect(narrow.body.scope).toBe('config:read');
    const full = await post('device', {
      grant_type: 'refresh_token',
      refresh_token: narrow.body.refresh_token as string,
    });
    expect(full.body.scope).toBe('telemetry:write config:read');
  });

  it('treats a refresh token presented by another client as leaked: invalid_grant and the family revoked', async () => {
    const { post, use, events } = setup();
    const first = await post('device', { grant_type: 'client_credentials' });
    const stolen = await post('crm', {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token as string,
    });
    expect(stolen.status).toBe(400);
    expect(stolen.body.error).toBe('invalid_grant');
    expect(await use(first)).toMatchObject({ outcome: 'deny', code: 'token_revoked' });
    const owner = await post('device', {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token as string,
    });
    expect(owner.body.error).toBe('invalid_grant');
    const trail = await events();
    expect(trail.find((e) => e.reason === 'client_mismatch')).toMatchObject({
      type: 'token.refreshed',
      outcome: 'failure',
      client: 'device',
      actor: 'crm',
    });
  });

  it("records issuances by client and reuse detections in the warden's Prometheus registry", async () => {
    const registry = new Registry();
    const { post } = setup({ registry });
    const first = await post('device', { grant_type: 'client_credentials' });
    await post('device', {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token as string,
    });
    await post('crm', { grant_type: 'client_credentials' });
    await post('device', {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token as string,
    });
    const text = await registry.metrics();
    expect(sample(text, 'tokenwarden_tokens_issued_total{client="device"}')).toBe(2);
    expect(sample(text, 'tokenwarden_tokens_issued_total{client="crm"}')).toBe(1);
    expect(sample(text, 'tokenwarden_refresh_reuse_detected_total')).toBe(1);
  });

  it('answers RFC 6749 §5.2 errors', async () => {
    const { post, endpoint } = setup();
    expect((await post('device', { grant_type: 'refresh_token' })).body).toMatchObject({
      error: 'invalid_request',
    });
    const malformed = await post('device', {
      grant_type: 'refresh_token',
      refresh_token: 'twr_live_not-a-token',
    });
    expect([malformed.status, malformed.body.error]).toEqual([400, 'invalid_grant']);
    const unknown = await post('device', {
      grant_type: 'refresh_token',
      refresh_token: generateCredential(REFRESH_TOKEN_TYPE, 'live'),
    });
    expect(unknown.body.error).toBe('invalid_grant');
    const anonymous = await post(undefined, {
      grant_type: 'refresh_token',
      refresh_token: 'x',
    });
    expect([anonymous.status, anonymous.body.error]).toEqual([401, 'invalid_client']);
    expect((await post('device', { grant_type: 'password' })).body).toMatchObject({
      error: 'unsupported_grant_type',
      error_description: 'only client_credentials and refresh_token are supported here',
    });
    expect(endpoint).toBeInstanceOf(TokenEndpoint);
  });

  it('issueWithRefresh starts a family for a user signed in by your own login', async () => {
    const { endpoint, post, use } = setup();
    const pair = await endpoint.issueWithRefresh({
      client: 'web',
      subject: 'user-42',
      scopes: ['profile:read'],
    });
    expect(pair.response.status).toBe(200);
    expect(pair.response.body).toMatchObject({
      scope: 'profile:read',
      refresh_token: pair.refreshToken.refreshToken,
    });
    expect(pair.accessToken.subject).toBe('user-42');
    const next = await post('web', {
      grant_type: 'refresh_token',
      refresh_token: pair.refreshToken.refreshToken,
    });
    expect(next.status).toBe(200);
    expect(await use(next)).toMatchObject({
      outcome: 'allow',
      principal: { subject: 'user-42', client: 'web', scopes: ['profile:read'] },
    });
  });

  it('answers 503 temporarily_unavailable when the credential store cannot', async () => {
    const failing = new MemoryCredentialStore();
    failing.findRefreshFamily = () => Promise.reject(new StoreUnavailableError('down'));
    failing.createRefreshFamily = () => Promise.reject(new StoreUnavailableError('down'));
    const { post } = setup({ credentials: failing });
    const answer = await post('device', {
      grant_type: 'refresh_token',
      refresh_token: generateCredential(REFRESH_TOKEN_TYPE, 'live'),
    });
    expect(answer.status).toBe(503);
    expect(answer.body.error).toBe('temporarily_unavailable');
    expect((await post('device', { grant_type: 'client_credentials' })).status).toBe(503);
  });

  it('refuses refresh-token clients without refreshTokens or without a secret at start-up', () => {
    const issuer = new TokenIssuer({
      issuer: 'https://issuer.test/',
      audience: 'api',
      keys: staticSigningKey({ kid: 'ed-1', alg: 'EdDSA', key: privateKey }),
      clients: { device: { scopes: ['a'] }, other: { scopes: ['a'] } },
    });
    expect(
      () =>
        new TokenEndpoint({
          issuer,
          clientSecrets: { device: secrets.device },
          refreshTokenClients: ['device'],
        }),
    ).toThrow(ConfigError);
    const refreshTokens = new RefreshTokens({
      store: new MemoryCredentialStore(),
      revoker: { revokeToken: async () => undefined },
    });
    expect(
      () =>
        new TokenEndpoint({
          issuer,
          clientSecrets: { device: secrets.device },
          refreshTokens,
          refreshTokenClients: ['other'],
        }),
    ).toThrow(/has no secret here/);
  });
});
