import { randomBytes, randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import jwt from 'jsonwebtoken';
import { MemorySink, type AuditSink, type WardenStore } from '@tokenwarden/core';
import { tokenwarden, type TokenwardenMiddleware } from '@tokenwarden/express';
import { seedData } from './data';

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
  app: Express;
  tw: TokenwardenMiddleware;
  audit: MemorySink;
  /** Mints a token as the demo issuer would. */
  issue(subject: string, scopes: string[], client?: string): string;
}

function demoSecret(): Buffer {
  const fromEnv = process.env.DEMO_JWT_SECRET;
  return fromEnv ? Buffer.from(fromEnv, 'base64url') : randomBytes(32);
}

/** The example API: customers, their orders and a marketing profile that needs consent. */
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
  const app = express();
  app.use(express.json());

  // Open routes, declared before the Tokenwarden line.
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/metrics', tw.metricsHandler());
  if (options.demoTokens ?? true) {
    // Demo only: a real deployment gets tokens from its identity provider.
    app.post('/demo/token', (req, res) => {
      const body = (req.body ?? {}) as { subject?: unknown; scopes?: unknown; client?: unknown };
      if (typeof body.subject !== 'string' || !Array.isArray(body.scopes)) {
        res.status(400).json({ error: 'give { subject, scopes: [...] }' });
        return;
      }
      const scopes = body.scopes.filter((s): s is string => typeof s === 'string');
      const client = typeof body.client === 'string' ? body.client : undefined;
      res.json({ access_token: issue(body.subject, scopes, client), expires_in: 600 });
    });
  }

  // Everything below needs a valid, unrevoked token.
  app.use(tw);

  app.get(
    '/customers/:id',
    tw.requireScopes('customers:read'),
    tw.lawfulBasis('contract'),
    (req, res) => {
      const customer = customers.get(req.params.id as string);
      if (!customer) res.status(404).json({ error: 'not found' });
      else res.json(customer);
    },
  );
  app.put('/customers/:id', tw.requireScopes('customers:write'), (req, res) => {
    const customer = customers.get(req.params.id as string);
    if (!customer) {
      res.status(404).json({ error: 'not found' });
      return;
    }
    const body = (req.body ?? {}) as { email?: unknown };
    if (typeof body.email === 'string') customer.email = body.email;
    res.json(customer);
  });
  app.get(
    '/customers/:id/orders',
    tw.requireScopes('orders:read'),
    tw.lawfulBasis('contract', { purpose: 'order_fulfilment' }),
    (req, res) => {
      res.json(orders.filter((o) => o.customerId === req.params.id));
    },
  );
  app.get(
    '/customers/:id/marketing-profile',
    tw.requireScopes('marketing:read'),
    tw.requireConsent('marketing', { subject: { param: 'id' } }),
    (req, res) => {
      const profile = profiles.get(req.params.id as string);
      if (!profile) res.status(404).json({ error: 'not found' });
      else res.json(profile);
    },
  );

  return { app, tw, audit, issue };
}
