import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa from 'koa';
import {
  checkPolicyDrift,
  jwksHandler,
  tokenEndpoint,
  tokenwarden,
  type TokenwardenMiddleware,
} from '@tokenwarden/koa';
// The same made-up customers, demo issuer and warden options as the Express example.
import {
  changeConsent,
  demoAppParts,
  servedPolicy,
  seedData,
  type DemoApp,
  type DemoAppOptions,
} from '@tokenwarden/example-shared';

/** The example API on Koa: customers, their orders and a marketing profile that needs consent. */
export function createApp(options: DemoAppOptions = {}): DemoApp<Koa, TokenwardenMiddleware> {
  const { issuer, issue, wardenOptions, tokens, tokenClient } = demoAppParts(options);
  const tw = tokenwarden(wardenOptions);
  // Issuance events and tokens_issued_total go to this warden's trail and registry.
  tokens.attach(tw.warden);

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
  // Client credentials (RFC 6749 §4.4) for the policy's clients, and the public keys.
  open.post('/oauth/token', tokenEndpoint(tokens.endpoint));
  open.get('/.well-known/jwks.json', jwksHandler(tokens.jwks));
  if (options.demoTokens ?? true) {
    // Demo only: a real deployment gets tokens from its identity provider.
    open.post('/demo/token', json, (ctx) => {
      const reply = issuer.reply(ctx.request.body);
      ctx.status = reply.status;
      ctx.body = reply.body;
    });
  }
  app.use(open.routes());

  // Everything below needs a valid, unrevoked token, and what tokenwarden.policy.yaml says of
  // its route (scopes, consent or lawful basis, data subject): no step in code.
  app.use(tw);

  const api = new Router();
  api.get('/customers/:id', (ctx) => {
    const customer = customers.get(ctx.params.id!);
    ctx.status = customer ? 200 : 404;
    ctx.body = customer ?? { error: 'not found' };
  });
  api.put('/customers/:id', json, (ctx) => {
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
  api.get('/customers/:id/orders', (ctx) => {
    ctx.body = orders.filter((o) => o.customerId === ctx.params.id);
  });
  api.get('/customers/:id/marketing-profile', (ctx) => {
    const profile = profiles.get(ctx.params.id!);
    ctx.status = profile ? 200 : 404;
    ctx.body = profile ?? { error: 'not found' };
  });
  // The privacy portal records what customers decide; every change is audited.
  for (const [method, change] of [
    ['put', 'grant'],
    ['delete', 'withdraw'],
  ] as const) {
    api[method]('/customers/:id/consents/:purpose', json, async (ctx) => {
      const { id, purpose } = ctx.params as { id: string; purpose: string };
      const { body } = ctx.request as { body?: unknown };
      const answer = await changeConsent(tw.warden, change, id, purpose, ctx.state.auth, body);
      ctx.status = answer.status;
      ctx.body = answer.body;
    });
  }
  app.use(api.routes());

  // Start-up check: the routes above against the policy (an error in production, else warnings).
  checkPolicyDrift(app, servedPolicy(tokens.policy, options.demoTokens ?? true));

  return { app, tw, issue, tokenClient };
}
