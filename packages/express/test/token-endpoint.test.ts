import { refreshGrantScenario, testIssuer } from '@tokenwarden/testing';
import { afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import express from 'express';
import request from 'supertest';
import {
  MemoryCredentialStore,
  RefreshTokens,
  TokenEndpoint,
  type Warden,
} from '@tokenwarden/core';
import { jwksHandler, tokenEndpoint, tokenwarden } from '@tokenwarden/express';

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
  const warden = tw.warden as Warden;
  cleanup.push(
    () => ring.close(),
    () => warden.close(),
  );
  const refreshTokens = new RefreshTokens({
    store: new MemoryCredentialStore(),
    revoker: warden,
    audit: warden,
  });
  const server = express();
  server.post(
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
  server.use(tw);
  server.get('/customers/:id', tw.requireScopes('customers:read'), (req, res) => {
    res.json({ subject: req.auth?.subject });
  });
  return server;
}

async function app(options: { json?: boolean } = {}) {
  const { ring, issuer } = await testIssuer(
    { crm: { scopes: ['customers:read', 'orders:read'] } },
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
    () => (tw.warden as Warden).close(),
  );
  const server = express();
  if (options.json) server.use(express.json());
  server.post(
    '/oauth/token',
    tokenEndpoint(new TokenEndpoint({ issuer, clientSecrets: { crm: secret } })),
  );
  server.get('/.well-known/jwks.json', jwksHandler(ring));
  server.use(tw);
  server.get('/customers/:id', tw.requireScopes('customers:read'), (req, res) => {
    res.json({ subject: req.auth?.subject });
  });
  return { server, ring };
}

describe('Express token endpoint', () => {
  it('issues a token for a form request that the warden then accepts', async () => {
    const { server } = await app();
    const answer = await request(server)
      .post('/oauth/token')
      .auth('crm', secret)
      .type('form')
      .send({ grant_type: 'client_credentials', scope: 'customers:read' });
    expect(answer.status).toBe(200);
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.body).toMatchObject({
      token_type: 'Bearer',
      scope: 'customers:read',
      expires_in: 600,
    });
    const used = await request(server)
      .get('/customers/c-1')
      .set('authorization', `Bearer ${answer.body.access_token as string}`);
    expect(used.status).toBe(200);
    expect(used.body).toEqual({ subject: 'crm' });
  });

  it('takes a body already parsed by express.json()', async () => {
    const { server } = await app({ json: true });
    const answer = await request(server)
      .post('/oauth/token')
      .send({ grant_type: 'client_credentials', client_id: 'crm', client_secret: secret });
    expect(answer.status).toBe(200);
  });

  it('answers RFC 6749 errors: 401 invalid_client with a Basic challenge, 400 invalid_scope', async () => {
    const { server } = await app();
    const bad = await request(server)
      .post('/oauth/token')
      .auth('crm', 'not-the-secret')
      .type('form')
      .send({ grant_type: 'client_credentials' });
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toBe('Basic realm="token"');
    expect(bad.body).toMatchObject({ error: 'invalid_client' });
    const scope = await request(server)
      .post('/oauth/token')
      .auth('crm', secret)
      .type('form')
      .send({ grant_type: 'client_credentials', scope: 'customers:write' });
    expect(scope.status).toBe(400);
    expect(scope.body.error).toBe('invalid_scope');
    const large = await request(server)
      .post('/oauth/token')
      .auth('crm', secret)
      .type('form')
      .send('grant_type=client_credentials&pad=' + 'x'.repeat(10_000));
    expect(large.status).toBe(400);
  });

  it('serves the JWKS of the ring', async () => {
    const { server, ring } = await app();
    const answer = await request(server).get('/.well-known/jwks.json');
    expect(answer.status).toBe(200);
    expect(answer.body.keys.map((k: { kid: string }) => k.kid)).toEqual([ring.signingKey().kid]);
    expect(JSON.stringify(answer.body)).not.toContain('"d"');
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
