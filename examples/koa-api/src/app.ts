import { randomBytes, randomUUID } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa from 'koa';
import jwt from 'jsonwebtoken';
import { MemorySink, type AuditSink, type WardenStore } from '@tokenwarden/core';
import { tokenwarden, type TokenwardenMiddleware } from '@tokenwarden/koa';
// The same made-up customers as the Express example.
import { seedData } from '../../express-api/src/data';

export const ISSUER = 'https://demo-issuer.tokenwarden.test/';
export const AUDIENCE = 'customers-api';

/** Options of {@link createApp}. */
export interface AppOptions {
  /** Where revocations and consent live. Default: the embedded MemoryStore. */
  store?: WardenStore;
  /** HS256 secret of the demo issuer. Default: DEMO_JWT_SECRET, else 32 random bytes. */
  secret?: Buffer;
  /** Extra audit sinks (a MemorySink is always attached and returned). */
  sinks?: AuditSink[];
  /** Mount POST /demo/token, which mints tokens for anyone. Never in production. Default: true. */
  demoTokens?: boolean;
}

export interface DemoApp {
  app: Koa;
  tw: TokenwardenMiddleware;
  audit: MemorySink;
  /** Mints a token as the demo issuer would. */
  issue(subject: string, scopes: string[], client?: string): string;
}

function demoSecret(): Buffer {
  const fromEnv = process.env.DEMO_JWT_SECRET;
  return fromEnv ? Buffer.from(fromEnv, 'base64url') : randomBytes(32);
}

/** The example API on Koa: customers, their orders and a marketing profile that needs consent. */
export function createApp(options: AppOptions = {}): DemoApp {
  const secret = options.secret ?? demoSecret();
  const audit = new MemorySink();
  const tw = tokenwarden({
    jwt: {
      algorithms: ['HS256'],
      keys: [{ kid: 'demo-1', alg: 'HS256', key: secret }],
      issuer: ISSUER,
      audience: AUDIENCE,
      maxLifetimeMs: 15 * 60_000,
    },
    ...(options.store ? { store: options.store } : {}),
    purposes: {
      marketing: { description: 'Personalised offers and newsletters' },
      order_fulfilment: { description: 'Delivering and invoicing orders' },
    },
    audit: { sinks: [audit, ...(options.sinks ?? [])], fingerprintKey: randomBytes(32) },
  });

  const issue = (subject: string, scopes: string[], client = 'support-console') =>
    jwt.sign({ scope: scopes.join(' '), client_id: client, jti: randomUUID() }, secret, {
      algorithm: 'HS256',
      keyid: 'demo-1',
      issuer: ISSUER,
      audience: AUDIENCE,
      subject,
      expiresIn: '10m',
    });

  const { customers, orders, profiles } = seedData();
  // Bodies are parsed only on the routes that take one, after their token checks.
  const json = bodyParser({ enableTypes: ['json'] });
  const app = new Koa();

  // Open routes: a router mounted above the Tokenwarden line.
  const open = new Router();
  open.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  open.get('/metrics', tw.metricsHandler());
  if (options.demoTokens ?? true) {
    // Demo only: a real deployment gets tokens from its identity provider.
    open.post('/demo/token', json, (ctx) => {
      const body = (ctx.request.body ?? {}) as {
        subject?: unknown;
        scopes?: unknown;
        client?: unknown;
      };
      if (typeof body.subject !== 'string' || !Array.isArray(body.scopes)) {
        ctx.status = 400;
        ctx.body = { error: 'give { subject, scopes: [...] }' };
        return;
      }
      const scopes = body.scopes.filter((s): s is string => typeof s === 'string');
      const client = typeof body.client === 'string' ? body.client : undefined;
      ctx.body = { access_token: issue(body.subject, scopes, client), expires_in: 600 };
    });
  }
  app.use(open.routes());

  // Everything below needs a valid, unrevoked token.
  app.use(tw);

  const api = new Router();
  api.get(
    '/customers/:id',
    tw.requireScopes('customers:read'),
    tw.lawfulBasis('contract'),
    (ctx) => {
      const customer = customers.get(ctx.params.id!);
      ctx.status = customer ? 200 : 404;
      ctx.body = customer ?? { error: 'not found' };
    },
  );
  api.put('/customers/:id', tw.requireScopes('customers:write'), json, (ctx) => {
    const customer = customers.get(ctx.params.id!);
    if (!customer) {
      ctx.status = 404;
      ctx.body = { error: 'not found' };
      return;
    }
    const body = (ctx.request.body ?? {}) as { email?: unknown };
    if (typeof body.email === 'string') customer.email = body.email;
    ctx.body = customer;
  });
  api.get(
    '/customers/:id/orders',
    tw.requireScopes('orders:read'),
    tw.lawfulBasis('contract', { purpose: 'order_fulfilment' }),
    (ctx) => {
      ctx.body = orders.filter((o) => o.customerId === ctx.params.id);
    },
  );
  api.get(
    '/customers/:id/marketing-profile',
    tw.requireScopes('marketing:read'),
    tw.requireConsent('marketing', { subject: { param: 'id' } }),
    (ctx) => {
      const profile = profiles.get(ctx.params.id!);
      ctx.status = profile ? 200 : 404;
      ctx.body = profile ?? { error: 'not found' };
    },
  );
  app.use(api.routes());

  return { app, tw, audit, issue };
}
