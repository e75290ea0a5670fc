/**
 * The habits of express-jwt and express-oauth2-jwt-bearer: denials through `next(err)`, optional
 * authentication, a custom token getter, any-of scopes and claim checks, and standalone steps
 * checked at start-up whatever the order of the modules.
 */
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import express, { type ErrorRequestHandler, type Express } from 'express';
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
} from '@tokenwarden/express';
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

/** An app below `tw`: `/orders` needs a scope, `/me` only the middleware. */
function appWith(tw: TokenwardenMiddleware, handler?: ErrorRequestHandler): Express {
  opened.push(tw);
  const app = express();
  app.use(tw);
  app.get('/me', (req, res) => void res.json({ who: req.auth?.subject ?? null }));
  app.get('/orders', requireScopes('orders:read'), (_req, res) => void res.json([]));
  if (handler) app.use(handler);
  return app;
}

describe("onDeny: 'next'", () => {
  const seen: unknown[] = [];
  const handler: ErrorRequestHandler = (err, _req, res, next) => {
    seen.push(err);
    if (!(err instanceof TokenwardenDenial)) return next(err);
    res.status(err.status).set(err.headers).json({ mine: true, code: err.code });
  };
  const app = appWith(tokenwarden(options(), { onDeny: 'next' }), handler);

  it("hands the middleware's denial to the error handler as a TokenwardenDenial", async () => {
    const res = await request(app).get('/me');
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ mine: true, code: 'token_missing' });
    expect(res.headers['www-authenticate']).toBe('Bearer realm="api"');
    const error = seen.at(-1) as TokenwardenDenial;
    expect(error).toBeInstanceOf(TokenwardenDenial);
    expect(error).toMatchObject({ status: 401, code: 'token_missing', expose: true });
    expect(error.body).toMatchObject({ code: 'token_missing', status: 401 });
  });

  it("hands a standalone route step's denial there too", async () => {
    const res = await request(app).get('/orders').set(bearer(mintToken()));
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ mine: true, code: 'insufficient_scope' });
    expect(res.headers['www-authenticate']).toContain('scope="orders:read"');
  });

  it('lets allowed requests through untouched', async () => {
    const res = await request(app).get('/me').set(bearer(mintToken()));
    expect(res.body).toEqual({ who: 'user-1' });
  });

  it('hands the denial of a bound step above the middleware there too', async () => {
    const tw = tokenwarden(options(), { onDeny: 'next' });
    opened.push(tw);
    const above = express();
    above.get('/open', tw.publicRoute(), (_req, res) => void res.json({ open: true }));
    above.get('/scoped', tw.requireScopes('orders:read'), (_req, res) => void res.json([]));
    above.use(handler);
    expect((await request(above).get('/open')).body).toEqual({ open: true });
    const bad = await request(above).get('/open').set(bearer('a.b.c'));
    expect([bad.status, bad.body]).toEqual([401, { mine: true, code: 'token_malformed' }]);
    const scoped = await request(above).get('/scoped').set(bearer(mintToken()));
    expect([scoped.status, scoped.body]).toEqual([403, { mine: true, code: 'insufficient_scope' }]);
  });

  it("keeps the status and challenge under Express's default error handler", async () => {
    const bare = appWith(tokenwarden(options(), { onDeny: 'next' }));
    const res = await request(bare).get('/me').set(bearer('a.b.c'));
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    expect(res.text).not.toContain('a.b.c');
  });
});

describe('onDeny as a function', () => {
  it('answers denials of the middleware and the steps below it', async () => {
    const onDeny = jest.fn<DenyHandler>(
      (decision, _req, res) => void res.status(decision.status).send(`no: ${decision.code}`),
    );
    const app = appWith(tokenwarden(options(), { onDeny }));
    expect((await request(app).get('/me')).text).toBe('no: token_missing');
    expect((await request(app).get('/orders').set(bearer(mintToken()))).text).toBe(
      'no: insufficient_scope',
    );
    expect(onDeny).toHaveBeenCalledTimes(2);
  });

  it('refuses an unknown mode at start-up', () => {
    expect(() => tokenwarden(options(), { onDeny: 'throw' as 'next' })).toThrow(ConfigError);
  });

  it('leaves the default alone: the denial is written at once', async () => {
    const app = appWith(tokenwarden(options()), (_err, _req, res) => void res.status(599).end());
    const res = await request(app).get('/me');
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});

describe('credentialsRequired: false', () => {
  const app = appWith(tokenwarden(options({ credentialsRequired: false })));

  it('lets a request without a token go on anonymously', async () => {
    expect((await request(app).get('/me')).body).toEqual({ who: null });
  });

  it('still verifies a token that is sent, and refuses a bad one', async () => {
    expect((await request(app).get('/me').set(bearer(mintToken()))).body).toEqual({
      who: 'user-1',
    });
    const bad = await request(app).get('/me').set(bearer('a.b.c'));
    expect(bad.status).toBe(401);
    expect(bad.body.code).toBe('token_malformed');
  });

  it('refuses an anonymous request on a route that needs a scope', async () => {
    const res = await request(app).get('/orders');
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('token_missing');
  });
});

describe('credentials.getToken', () => {
  const app = appWith(
    tokenwarden(
      options({ credentials: { getToken: (view) => view.headerValues('x-access-token')?.[0] } }),
    ),
  );

  it('reads the token where the application says', async () => {
    const res = await request(app).get('/me').set('x-access-token', mintToken());
    expect(res.body).toEqual({ who: 'user-1' });
    expect((await request(app).get('/me').set(bearer(mintToken()))).status).toBe(401);
    expect((await request(app).get('/me').set('x-access-token', 'a b')).body.code).toBe(
      'token_malformed',
    );
  });
});

describe('any-of scopes and claim checks', () => {
  const tw = tokenwarden(options());
  const app = appWith(tw);
  const ok = (_req: express.Request, res: express.Response) => void res.json({ ok: true });
  app.get('/reports', requireAnyScope('reports:read', 'reports:admin'), ok);
  app.get('/tenant', claimEquals('tenant', 'acme'), ok);
  app.get('/admin', tw.claimIncludes('roles', 'admin'), ok);
  app.get(
    '/verified',
    claimCheck((claims) => claims.email_verified === true),
    ok,
  );

  it('passes with one of the scopes, refuses with none (403 insufficient_scope)', async () => {
    const admin = mintToken({ claims: { scope: 'reports:admin' } });
    expect((await request(app).get('/reports').set(bearer(admin))).status).toBe(200);
    const res = await request(app).get('/reports').set(bearer(mintToken()));
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('insufficient_scope');
    expect(res.headers['www-authenticate']).toContain('scope="reports:read reports:admin"');
  });

  it('passes claim checks that hold and refuses the others (403 claim_check_failed)', async () => {
    const token = mintToken({ claims: { tenant: 'acme', roles: ['admin'], email_verified: true } });
    for (const path of ['/tenant', '/admin', '/verified']) {
      expect([path, (await request(app).get(path).set(bearer(token))).status]).toEqual([path, 200]);
    }
    const other = mintToken({ claims: { tenant: 'other', roles: 'user', email_verified: 'yes' } });
    for (const path of ['/tenant', '/admin', '/verified']) {
      const res = await request(app).get(path).set(bearer(other));
      expect([path, res.status, res.body.code]).toEqual([path, 403, 'claim_check_failed']);
      expect(res.headers['www-authenticate']).toBeUndefined();
    }
  });

  it('refuses a malformed claim check at start-up', () => {
    expect(() => claimIncludes('roles')).toThrow(ConfigError);
    expect(() => tw.claimEquals('', 'x')).toThrow(ConfigError);
  });
});

describe('standalone steps are checked at start-up, whatever the order of the modules', () => {
  it('a router module imported before tokenwarden(): the middleware throws ConfigError', async () => {
    await jest.isolateModulesAsync(async () => {
      const { router } = await import('./fixtures/typo-router');
      const adapter = await import('@tokenwarden/express');
      expect(router).toBeDefined();
      expect(() => adapter.tokenwarden(options())).toThrow(
        /route step declared before tokenwarden\(\): requireConsent: purpose 'marketting' is not declared/,
      );
    });
  });

  it('routes declared after app.use(tw): the step itself throws ConfigError', async () => {
    await jest.isolateModulesAsync(async () => {
      const adapter = await import('@tokenwarden/express');
      const tw = adapter.tokenwarden(options());
      expect(() => adapter.requireConsent('marketting')).toThrow(/purpose 'marketting'/);
      expect(() => adapter.requireConsent('marketing')).not.toThrow();
      await tw.warden.close();
    });
  });
});
