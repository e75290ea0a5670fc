import { refreshGrantScenario, testIssuer } from '@tokenwarden/testing';
import { afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import request from 'supertest';
import {
  createAdmin,
  MemoryCredentialStore,
  MemoryStore,
  RefreshTokens,
  type SigningKeyRing,
  TokenEndpoint,
  type Principal,
} from '@tokenwarden/core';
import {
  Auth,
  Scopes,
  TokenwardenGuard,
  TokenwardenModule,
  tokenEndpointController,
} from '@tokenwarden/nest';
import { PLATFORMS, startApp } from './support';

const secret = randomBytes(32).toString('base64url');
const deviceSecret = randomBytes(32).toString('base64url');
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const done of cleanup.splice(0)) await done();
});

@Controller('customers')
class CustomersController {
  @Scopes('customers:read')
  @Get(':id')
  one(@Auth() principal: Principal) {
    return { subject: principal.subject };
  }
}

async function boot(
  platform: (typeof PLATFORMS)[number],
): Promise<{ app: INestApplication; ring: SigningKeyRing }> {
  const { ring, issuer } = await testIssuer(
    { crm: { scopes: ['customers:read'] } },
    { maxTokenLifetimeMs: 600_000 },
  );
  const endpoint = new TokenEndpoint({ issuer, clientSecrets: { crm: secret } });
  const app = await startApp(
    {
      imports: [
        TokenwardenModule.forRoot({
          jwt: {
            algorithms: ['ES256'],
            keys: ring.verificationKeys(),
            issuer: 'https://api.test/',
            audience: 'api',
          },
          metrics: false,
        }),
      ],
      controllers: [tokenEndpointController({ endpoint, jwks: ring }), CustomersController],
      providers: [{ provide: APP_GUARD, useClass: TokenwardenGuard }],
    },
    platform,
  );
  cleanup.push(
    () => app.close(),
    () => ring.close(),
  );
  return { app, ring };
}

/**
 * A Nest app whose token endpoint serves the refresh_token grant. Reuse detection revokes through
 * `createAdmin` over the store the module's warden reads, as a deployment would.
 */
async function bootRefresh(platform: (typeof PLATFORMS)[number]): Promise<INestApplication> {
  const { ring, issuer } = await testIssuer({ device: { scopes: ['customers:read'] } });
  const store = new MemoryStore();
  const admin = createAdmin({ store, audit: false });
  const endpoint = new TokenEndpoint({
    issuer,
    clientSecrets: { device: deviceSecret },
    refreshTokens: new RefreshTokens({ store: new MemoryCredentialStore(), revoker: admin }),
    refreshTokenClients: ['device'],
  });
  const app = await startApp(
    {
      imports: [
        TokenwardenModule.forRoot({
          jwt: { algorithms: ['ES256'], keys: ring, issuer: 'https://api.test/', audience: 'api' },
          store,
          metrics: false,
        }),
      ],
      controllers: [tokenEndpointController({ endpoint }), CustomersController],
      providers: [{ provide: APP_GUARD, useClass: TokenwardenGuard }],
    },
    platform,
  );
  cleanup.push(
    () => app.close(),
    () => admin.close(),
    () => ring.close(),
    () => store.close(),
  );
  return app;
}

describe.each(PLATFORMS)('Nest token endpoint on platform-%s', (platform) => {
  it('serves the refresh_token grant (JSON body): rotation, and reuse revoking the access tokens the guard then refuses', async () => {
    const app = await bootRefresh(platform);
    await refreshGrantScenario({
      server: app.getHttpServer(),
      client: 'device',
      secret: deviceSecret,
      protectedPath: '/customers/c-1',
      type: 'json',
    });
  });

  it('issues a token (JSON body) that the guard then accepts; the endpoint needs no token', async () => {
    const { app } = await boot(platform);
    const answer = await request(app.getHttpServer())
      .post('/oauth/token')
      .auth('crm', secret)
      .send({ grant_type: 'client_credentials' });
    expect(answer.status).toBe(200);
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.body).toMatchObject({ token_type: 'Bearer', scope: 'customers:read' });
    const used = await request(app.getHttpServer())
      .get('/customers/c-1')
      .set('authorization', `Bearer ${answer.body.access_token as string}`);
    expect(used.status).toBe(200);
    expect(used.body).toEqual({ subject: 'crm' });
  });

  it('answers 401 invalid_client with a Basic challenge', async () => {
    const { app } = await boot(platform);
    const bad = await request(app.getHttpServer())
      .post('/oauth/token')
      .auth('crm', 'wrong')
      .send({ grant_type: 'client_credentials' });
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toBe('Basic realm="token"');
    expect(bad.body.error).toBe('invalid_client');
  });

  it('serves the JWKS', async () => {
    const { app, ring } = await boot(platform);
    const answer = await request(app.getHttpServer()).get('/.well-known/jwks.json');
    expect(answer.status).toBe(200);
    expect(answer.body.keys[0]).toMatchObject({ kid: ring.signingKey().kid });
  });
});

describe('Nest token endpoint on platform-express with a form body', () => {
  it('serves the refresh_token grant with form parameters', async () => {
    await refreshGrantScenario({
      server: (await bootRefresh('express')).getHttpServer(),
      client: 'device',
      secret: deviceSecret,
      protectedPath: '/customers/c-1',
    });
  });

  it('reads form-encoded parameters', async () => {
    const { app } = await boot('express');
    const answer = await request(app.getHttpServer())
      .post('/oauth/token')
      .auth('crm', secret)
      .type('form')
      .send({ grant_type: 'client_credentials' });
    expect(answer.status).toBe(200);
  });
});
