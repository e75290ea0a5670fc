/**
 * The habits of @nestjs/passport and express-oauth2-jwt-bearer users: any-of scopes and claim
 * checks as decorators, optional authentication, and the routes' requirements in an OpenAPI
 * document.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Delete, Get, type INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import request from 'supertest';
import { ConfigError, type OpenApiDocument, type Principal } from '@tokenwarden/core';
import {
  addTokenwardenSecurity,
  AnyScope,
  Auth,
  ClaimCheck,
  ClaimEquals,
  ClaimIncludes,
  Consent,
  Public,
  Scopes,
  TokenwardenGuard,
  TokenwardenModule,
} from '@tokenwarden/nest';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import { bearer, PLATFORMS, startApp } from './support';

// Claim checks add up: the controller's tenant check applies to every handler.
@ClaimEquals('tenant', 'acme')
@Controller('reports')
class ReportsController {
  @AnyScope('reports:read', 'reports:admin')
  @Get()
  list(@Auth('subject') subject: string) {
    return { subject };
  }

  @Scopes('reports:write')
  @AnyScope('reports:own', 'reports:all')
  @ClaimIncludes('roles', 'editor')
  @ClaimCheck((claims) => claims.email_verified === true)
  @Delete(':id')
  remove() {
    return { removed: true };
  }
}

@Controller('profile')
class ProfileController {
  @Get()
  me(@Auth() principal: Principal | undefined) {
    return { who: principal?.subject ?? null };
  }

  @Consent('marketing')
  @Get('offers')
  offers() {
    return [];
  }

  @Public()
  @Get('card')
  card() {
    return {};
  }
}

const wardenModule = (extra: object = {}) =>
  TokenwardenModule.forRoot({
    jwt: testJwtOptions(),
    purposes: ['marketing'],
    audit: false,
    logger: { warn() {}, error() {} },
    ...extra,
  });
const providers = [{ provide: APP_GUARD, useClass: TokenwardenGuard }];

describe.each(PLATFORMS)('decorators and options on %s', (platform) => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await startApp(
      { imports: [wardenModule()], controllers: [ReportsController, ProfileController], providers },
      platform,
    );
  });
  afterAll(() => app.close());

  const acme = { tenant: 'acme', roles: ['editor'], email_verified: true };

  it('@AnyScope: one of the scopes passes, none is 403 insufficient_scope', async () => {
    const http = request(app.getHttpServer());
    const one = mintToken({ claims: { ...acme, scope: 'reports:admin' } });
    expect((await http.get('/reports').set(bearer(one))).status).toBe(200);
    const none = await http.get('/reports').set(bearer(mintToken({ claims: acme })));
    expect([none.status, none.body.code]).toEqual([403, 'insufficient_scope']);
    expect(none.headers['www-authenticate']).toContain('scope="reports:read reports:admin"');
  });

  it("claim decorators: the controller's and the handler's all apply (403 claim_check_failed)", async () => {
    const http = request(app.getHttpServer());
    const scope = 'reports:write reports:own';
    const good = mintToken({ claims: { ...acme, scope } });
    expect((await http.delete('/reports/r1').set(bearer(good))).status).toBe(200);
    for (const claims of [
      { ...acme, tenant: 'other' },
      { ...acme, roles: ['viewer'] },
      { ...acme, email_verified: false },
    ]) {
      const res = await http
        .delete('/reports/r1')
        .set(bearer(mintToken({ claims: { ...claims, scope } })));
      expect([res.status, res.body.code]).toEqual([403, 'claim_check_failed']);
    }
    // The controller's claim check applies to the handler without claim decorators too.
    const other = mintToken({ claims: { tenant: 'other', scope: 'reports:read' } });
    expect((await http.get('/reports').set(bearer(other))).body.code).toBe('claim_check_failed');
  });
});

describe('credentialsRequired: false', () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await startApp(
      {
        imports: [wardenModule({ credentialsRequired: false })],
        controllers: [ProfileController],
        providers,
      },
      'express',
    );
  });
  afterAll(() => app.close());

  it('lets anonymous requests on, verifies sent tokens, and refuses where consent is needed', async () => {
    const http = request(app.getHttpServer());
    expect((await http.get('/profile')).body).toEqual({ who: null });
    expect((await http.get('/profile').set(bearer(mintToken()))).body).toEqual({ who: 'user-1' });
    expect((await http.get('/profile').set(bearer('a.b.c'))).status).toBe(401);
    expect((await http.get('/profile/offers')).body.code).toBe('token_missing');
  });
});

describe('claim decorators at start-up', () => {
  it('fail on a malformed claim check, naming the handler', async () => {
    @Controller('bad')
    class BadController {
      @ClaimIncludes('roles')
      @Get()
      bad() {
        return {};
      }
    }
    const started = startApp(
      { imports: [wardenModule()], controllers: [BadController], providers },
      'express',
    );
    await expect(started).rejects.toThrow(ConfigError);
    await expect(started).rejects.toThrow(/BadController\.bad: claimIncludes\('roles'\)/);
  });
});

describe('addTokenwardenSecurity', () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await startApp(
      { imports: [wardenModule()], controllers: [ReportsController, ProfileController], providers },
      'express',
    );
  });
  afterAll(() => app.close());

  /** What SwaggerModule.createDocument makes of these controllers (operationId `Class_method`). */
  function swaggerDocument(): OpenApiDocument {
    const op = (operationId: string) => ({ operationId, responses: { 200: { description: '' } } });
    return {
      openapi: '3.0.0',
      info: { title: 'api', version: '1' },
      paths: {
        '/reports': { get: op('ReportsController_list') },
        '/reports/{id}': { delete: op('ReportsController_remove') },
        '/profile': { get: op('ProfileController_me') },
        '/profile/offers': { get: op('ProfileController_offers') },
        '/profile/card': { get: op('ProfileController_card') },
        '/metrics': { get: op('TokenwardenMetricsController_metrics') },
        '/elsewhere': { get: op('OtherController_list') },
      },
    };
  }

  it('documents the scheme and each route as its decorators say', () => {
    const document = addTokenwardenSecurity(app, swaggerDocument(), {
      unguarded: ['OtherController_list'],
    });
    expect(document.components?.securitySchemes?.bearerAuth).toEqual({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
    const security = (path: string, method = 'get') =>
      (document.paths![path]![method] as { security?: unknown }).security;
    expect(security('/reports')).toEqual([
      { bearerAuth: ['reports:read'] },
      { bearerAuth: ['reports:admin'] },
    ]);
    expect(security('/reports/{id}', 'delete')).toEqual([
      { bearerAuth: ['reports:write', 'reports:own'] },
      { bearerAuth: ['reports:write', 'reports:all'] },
    ]);
    expect(security('/profile')).toEqual([{ bearerAuth: [] }]);
    expect(security('/profile/offers')).toEqual([{ bearerAuth: [] }]);
    expect(security('/profile/card')).toEqual([{}, { bearerAuth: [] }]);
    // The metrics endpoint is left alone by the guard, and so open in the document.
    expect(security('/metrics')).toEqual([]);
    expect(security('/elsewhere')).toEqual([]);
  });

  it('follows a custom operationId factory', () => {
    const document: OpenApiDocument = {
      paths: { '/reports': { get: { operationId: 'list', responses: {} } } },
    };
    addTokenwardenSecurity(app, document, { operationId: (_controller, method) => method });
    expect((document.paths!['/reports']!.get as { security?: unknown }).security).toHaveLength(2);
  });
});
