import express, { type Express } from 'express';
import {
  checkPolicyDrift,
  jwksHandler,
  tokenEndpoint,
  tokenwarden,
  type TokenwardenMiddleware,
} from '@tokenwarden/express';
import {
  changeConsent,
  demoAppParts,
  servedPolicy,
  seedData,
  type DemoApp,
  type DemoAppOptions,
} from '@tokenwarden/example-shared';

/** The example API: customers, their orders and a marketing profile that needs consent. */
export function createApp(options: DemoAppOptions = {}): DemoApp<Express, TokenwardenMiddleware> {
  const { issuer, issue, wardenOptions, tokens, tokenClient } = demoAppParts(options);
  const tw = tokenwarden(wardenOptions);
  // Issuance events and tokens_issued_total go to this warden's trail and registry.
  tokens.attach(tw.warden);

  const { customers, orders, profiles } = seedData();
  const app = express();
  app.use(express.json());

  // Open routes, declared before the Tokenwarden line.
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/metrics', tw.metricsHandler());
  // Client credentials (RFC 6749 §4.4) for the policy's clients, and the public keys.
  app.post('/oauth/token', express.urlencoded({ extended: false }), tokenEndpoint(tokens.endpoint));
  app.get('/.well-known/jwks.json', jwksHandler(tokens.jwks));
  if (options.demoTokens ?? true) {
    // Demo only: a real deployment gets tokens from its identity provider.
    app.post('/demo/token', (req, res) => {
      const reply = issuer.reply(req.body);
      res.status(reply.status).json(reply.body);
    });
  }

  // Everything below needs a valid, unrevoked token, and what tokenwarden.policy.yaml says of
  // its route (scopes, consent or lawful basis, data subject): no step in code.
  app.use(tw);

  app.get('/customers/:id', (req, res) => {
    const customer = customers.get(req.params.id as string);
    if (!customer) res.status(404).json({ error: 'not found' });
    else res.json(customer);
  });
  app.put('/customers/:id', (req, res) => {
    const customer = customers.get(req.params.id as string);
    if (!customer) {
      res.status(404).json({ error: 'not found' });
      return;
    }
    const body = (req.body ?? {}) as { email?: unknown };
    if (typeof body.email === 'string') customer.email = body.email;
    res.json(customer);
  });
  app.get('/customers/:id/orders', (req, res) => {
    res.json(orders.filter((o) => o.customerId === req.params.id));
  });
  app.get('/customers/:id/marketing-profile', (req, res) => {
    const profile = profiles.get(req.params.id as string);
    if (!profile) res.status(404).json({ error: 'not found' });
    else res.json(profile);
  });
  // The privacy portal records what customers decide; every change is audited.
  for (const [method, change] of [
    ['put', 'grant'],
    ['delete', 'withdraw'],
  ] as const) {
    app[method]('/customers/:id/consents/:purpose', (req, res, next) => {
      const { id, purpose } = req.params as { id: string; purpose: string };
      changeConsent(tw.warden, change, id, purpose, req.auth, req.body).then(
        (answer) => res.status(answer.status).json(answer.body),
        next,
      );
    });
  }

  // Start-up check: the routes above against the policy (an error in production, else warnings).
  checkPolicyDrift(app, servedPolicy(tokens.policy, options.demoTokens ?? true));
  return { app, tw, issue, tokenClient };
}
