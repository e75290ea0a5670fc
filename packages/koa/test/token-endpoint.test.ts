import { refreshGrantScenario, testIssuer } from '@tokenwarden/testing';
import { afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import Koa from 'koa';
import Router from '@koa/router';
import request from 'supertest';
import { MemoryCredentialStore, RefreshTokens, TokenEndpoint } from '@tokenwarden/core';
import { jwksHandler, tokenEndpoint, tokenwarden, requireScopes } from '@tokenwarden/koa';

const secret = randomBytes(32).toString('base64url');
const deviceSecret = randomBytes(32).toString('base64url');
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const done of cleanup.splice(0)) await done();
});

async function refreshApp() {
  const { ring, issuer } = await testIssuer({ device: { scopes: ['customers:read'] } });
  const tw = tokenwarden({
    jwt: { algorithms: ['ES256'], keys: ring, issuer: 'https://api.test/', audience: 'api' },
    metrics: false,
  });
  cleanup.push(
    () => ring.close(),
    () => tw.warden.close(),
  );
  const refreshTokens = new RefreshTokens({
    store: new MemoryCredentialStore(),
    revoker: tw.warden,
    audit: tw.warden,
  });
  const open = new Router();
  open.post(
    '/oauth/token',
    tokenEndpoint(
      new TokenEndpoint({
        issuer,
        clientSecrets: { device: deviceSecret },
        refreshTokens,
        refreshTokenClients: ['device'],
      }),
    ),
  );
  const guarded = new Router();
  guarded.get('/customers/:id', requireScopes('customers:read'), (ctx) => {
    ctx.body = { subject: ctx.state.auth?.subject };
  });
  const koa = new Koa();
  koa.use(open.routes());
  koa.use(tw);
  koa.use(guarded.routes());
  return koa.callback();
}

async function app() {
  const { ring, issuer } = await testIssuer(
    { crm: { scopes: ['customers:read'] } },
    { maxTokenLifetimeMs: 600_000 },
  );
  const tw = tokenwarden({
    jwt: {
      algorithms: ['ES256'],
      keys: ring.verificationKeys(),
      issuer: 'https://api.test/',
      audience: 'api',
    },
    metrics: false,
  });
  cleanup.push(
    () => ring.close(),
    () => tw.warden.close(),
  );
  const open = new Router();
  open.post(
    '/oauth/token',
    tokenEndpoint(new TokenEndpoint({ issuer, clientSecrets: { crm: secret } })),
  );
  open.get('/.well-known/jwks.json', jwksHandler(ring));
  const guarded = new Router();
  guarded.get('/customers/:id', requireScopes('customers:read'), (ctx) => {
    ctx.body = { subject: ctx.state.auth?.subject };
  });
  const koa = new Koa();
  koa.use(open.routes());
  koa.use(tw);
  koa.use(guarded.routes());
  return { server: koa.callback(), ring };
}

describe('Koa token endpoint', () => {
  it('issues a token for a form request that the warden then accepts', async () => {
    const { server } = await app();
    const answer = await request(server)
      .post('/oauth/token')
      .auth('crm', secret)
      .type('form')
      .send({ grant_type: 'client_credentials' });
    expect(answer.status).toBe(200);
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.body).toMatchObject({ token_type: 'Bearer', scope: 'customers:read' });
    const used = await request(server)
      .get('/customers/c-1')
      .set('authorization', `Bearer ${answer.body.access_token as string}`);
    expect(used.status).toBe(200);
    expect(used.body).toEqual({ subject: 'crm' });
  });

  it('answers invalid_client and unsupported_grant_type per RFC 6749 §5.2', async () => {
    const { server } = await app();
    const bad = await request(server)
      .post('/oauth/token')
      .auth('crm', 'wrong')
      .type('form')
      .send({ grant_type: 'client_credentials' });
    expect(bad.status).toBe(401);
    expect(bad.body.error).toBe('invalid_client');
    const grant = await request(server)
      .post('/oauth/token')
      .type('json')
      .send({ grant_type: 'password', client_id: 'crm', client_secret: secret });
    expect(grant.status).toBe(400);
    expect(grant.body.error).toBe('unsupported_grant_type');
  });

  it('serves the JWKS of the ring', async () => {
    const { server, ring } = await app();
    const answer = await request(server).get('/.well-known/jwks.json');
    expect(answer.body.keys[0]).toMatchObject({ kid: ring.signingKey().kid, kty: 'EC' });
  });

  it('serves the refresh_token grant: rotation, and reuse revoking the access tokens the warden then refuses', async () => {
    await refreshGrantScenario({
      server: await refreshApp(),
      client: 'device',
      secret: deviceSecret,
      protectedPath: '/customers/c-1',
    });
  });
});
