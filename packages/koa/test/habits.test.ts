/**
 * The habits of koa-jwt users: denials thrown into Koa's error handling, optional
 * authentication, a custom token getter, any-of scopes and claim checks, and standalone steps
 * checked at start-up whatever the order of the modules.
 */
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import Router from '@koa/router';
import Koa from 'koa';
import request from 'supertest';
import { ConfigError, TokenwardenDenial, type WardenOptions } from '@tokenwarden/core';
import {
  claimCheck,
  claimEquals,
  claimIncludes,
  requireAnyScope,
  requireScopes,
  tokenwarden,
  type DenyHandler,
  type TokenwardenMiddleware,
} from '@tokenwarden/koa';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const options = (extra: Partial<WardenOptions> = {}): WardenOptions => ({
  jwt: testJwtOptions(),
  purposes: ['marketing'],
  audit: false,
  logger: { warn() {}, error() {} },
  ...extra,
});
const opened: TokenwardenMiddleware[] = [];
afterAll(() => Promise.all(opened.map((tw) => tw.warden.close())));

/** An app: `errors` (if any) above `tw`; `/orders` needs a scope, `/me` only the middleware. */
function appWith(tw: TokenwardenMiddleware, errors?: Koa.Middleware, router = new Router()) {
  opened.push(tw);
  const app = new Koa();
  app.silent = true;
  if (errors) app.use(errors);
  app.use(tw);
  router.get('/me', (ctx) => void (ctx.body = { who: ctx.state.auth?.subject ?? null }));
  router.get('/orders', requireScopes('orders:read'), (ctx) => void (ctx.body = []));
  app.use(router.routes());
  return app.callback();
}

describe("onDeny: 'throw'", () => {
  const seen: unknown[] = [];
  const errors: Koa.Middleware = async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      seen.push(error);
      if (!(error instanceof TokenwardenDenial)) throw error;
      ctx.status = error.status;
      ctx.set(error.headers);
      ctx.body = { mine: true, code: error.code };
    }
  };
  const app = appWith(tokenwarden(options(), { onDeny: 'throw' }), errors);

  it("throws the middleware's denial to the error middleware as a TokenwardenDenial", async () => {
    const res = await request(app).get('/me');
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ mine: true, code: 'token_missing' });
    expect(res.headers['www-authenticate']).toBe('Bearer realm="api"');
    expect(seen.at(-1)).toBeInstanceOf(TokenwardenDenial);
    expect(seen.at(-1)).toMatchObject({ status: 401, code: 'token_missing', expose: true });
  });

  it("throws a standalone route step's denial there too", async () => {
    const res = await request(app).get('/orders').set(bearer(mintToken()));
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ mine: true, code: 'insufficient_scope' });
    expect(res.headers['www-authenticate']).toContain('scope="orders:read"');
  });

  it('lets allowed requests through untouched', async () => {
    expect((await request(app).get('/me').set(bearer(mintToken()))).body).toEqual({
      who: 'user-1',
    });
  });

  it('throws the denial of a bound step above the middleware there too', async () => {
    const tw = tokenwarden(options(), { onDeny: 'throw' });
    opened.push(tw);
    const above = new Koa();
    above.silent = true;
    above.use(errors);
    const open = new Router();
    open.get('/open', tw.publicRoute(), (ctx) => void (ctx.body = { open: true }));
    above.use(open.routes());
    const http = request(above.callback());
    expect((await http.get('/open')).body).toEqual({ open: true });
    const bad = await http.get('/open').set(bearer('a.b.c'));
    expect([bad.status, bad.body]).toEqual([401, { mine: true, code: 'token_malformed' }]);
  });

  it("keeps the status, challenge and safe message under Koa's default error handling", async () => {
    const bare = appWith(tokenwarden(options(), { onDeny: 'throw' }));
    const res = await request(bare).get('/me').set(bearer('a.b.c'));
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    expect(res.text).toBe('The access token is malformed');
  });
});

describe('onDeny as a function', () => {
  it('answers denials of the middleware and the steps below it', async () => {
    const onDeny = jest.fn<DenyHandler>((decision, ctx) => {
      ctx.status = decision.status;
      ctx.body = `no: ${decision.code}`;
    });
    const app = appWith(tokenwarden(options(), { onDeny }));
    expect((await request(app).get('/me')).text).toBe('no: token_missing');
    expect((await request(app).get('/orders').set(bearer(mintToken()))).text).toBe(
      'no: insufficient_scope',
    );
    expect(onDeny).toHaveBeenCalledTimes(2);
  });

  it('refuses an unknown mode at start-up', () => {
    expect(() => tokenwarden(options(), { onDeny: 'next' as 'throw' })).toThrow(ConfigError);
  });
});

describe('optional authentication and a custom token getter', () => {
  it('credentialsRequired: false lets anonymous requests on and still refuses bad tokens', async () => {
    const app = appWith(tokenwarden(options({ credentialsRequired: false })));
    expect((await request(app).get('/me')).body).toEqual({ who: null });
    expect((await request(app).get('/me').set(bearer(mintToken()))).body).toEqual({
      who: 'user-1',
    });
    expect((await request(app).get('/me').set(bearer('a.b.c'))).status).toBe(401);
    expect((await request(app).get('/orders')).body.code).toBe('token_missing');
  });

  it('credentials.getToken reads the token where the application says', async () => {
    const getToken = (view: { headerValues(name: string): readonly string[] | undefined }) =>
      view.headerValues('x-access-token')?.[0];
    const app = appWith(tokenwarden(options({ credentials: { getToken } })));
    expect((await request(app).get('/me').set('x-access-token', mintToken())).body).toEqual({
      who: 'user-1',
    });
    expect((await request(app).get('/me').set(bearer(mintToken()))).status).toBe(401);
  });
});

describe('any-of scopes and claim checks', () => {
  const tw = tokenwarden(options());
  const router = new Router();
  const ok = (ctx: Koa.Context) => void (ctx.body = { ok: true });
  router.get('/reports', requireAnyScope('reports:read', 'reports:admin'), ok);
  router.get('/tenant', claimEquals('tenant', 'acme'), ok);
  router.get('/admin', tw.claimIncludes('roles', 'admin'), ok);
  router.get(
    '/verified',
    claimCheck((claims) => claims.email_verified === true),
    ok,
  );
  const app = appWith(tw, undefined, router);

  it('passes with one of the scopes, refuses with none (403 insufficient_scope)', async () => {
    const admin = mintToken({ claims: { scope: 'reports:admin' } });
    expect((await request(app).get('/reports').set(bearer(admin))).status).toBe(200);
    const res = await request(app).get('/reports').set(bearer(mintToken()));
    expect([res.status, res.body.code]).toEqual([403, 'insufficient_scope']);
  });

  it('passes claim checks that hold and refuses the others (403 claim_check_failed)', async () => {
    const token = mintToken({ claims: { tenant: 'acme', roles: ['admin'], email_verified: true } });
    const other = mintToken({ claims: { tenant: 'other', roles: 'user', email_verified: 'yes' } });
    for (const path of ['/tenant', '/admin', '/verified']) {
      expect([path, (await request(app).get(path).set(bearer(token))).status]).toEqual([path, 200]);
      const res = await request(app).get(path).set(bearer(other));
      expect([path, res.status, res.body.code]).toEqual([path, 403, 'claim_check_failed']);
    }
  });

  it('refuses a malformed claim check at start-up', () => {
    expect(() => claimIncludes('roles')).toThrow(ConfigError);
  });
});

describe('standalone steps are checked at start-up, whatever the order of the modules', () => {
  it('a router module imported before tokenwarden(): the middleware throws ConfigError', async () => {
    await jest.isolateModulesAsync(async () => {
      const { router } = await import('./fixtures/typo-router');
      const adapter = await import('@tokenwarden/koa');
      expect(router).toBeDefined();
      expect(() => adapter.tokenwarden(options())).toThrow(
        /route step declared before tokenwarden\(\): requireConsent: purpose 'marketting' is not declared/,
      );
    });
  });

  it('routes declared after the middleware is made: the step itself throws ConfigError', async () => {
    await jest.isolateModulesAsync(async () => {
      const adapter = await import('@tokenwarden/koa');
      const tw = adapter.tokenwarden(options());
      expect(() => adapter.requireConsent('marketting')).toThrow(/purpose 'marketting'/);
      expect(() => adapter.requireConsent('marketing')).not.toThrow();
      await tw.warden.close();
    });
  });
});
