import 'reflect-metadata';
import Router from '@koa/router';
import { Controller, Get, Module, Put } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { describe, expect, it } from '@jest/globals';
import express from 'express';
import Koa from 'koa';
import { ConfigError, MemorySink, type WardenOptions } from '@tokenwarden/core';
import { checkPolicy, type Policy } from '@tokenwarden/core/policy';
import * as tx from '@tokenwarden/express';
import * as tk from '@tokenwarden/koa';
import {
  checkPolicyDrift as nestDrift,
  LawfulBasis,
  Scopes,
  TokenwardenGuard,
  TokenwardenModule,
} from '@tokenwarden/nest';
import { testJwtOptions } from '@tokenwarden/testing';

// The case: the policy says GET /customers/:id/marketing-profile needs marketing:read and
// consent for marketing; the code declares lawfulBasis('legitimate_interests') and no scope step.
const POLICY = `
version: 1
issuer: https://issuer.test/
audience: tokenwarden-test-api
signing: { algorithm: ES256, rotationPeriod: 30d }
scopes:
  customers:read: { description: Read customers, dataCategories: [contact_details] }
  customers:write: { description: Change customers, dataCategories: [contact_details] }
  marketing:read: { description: Read profiles, dataCategories: [marketing_preferences] }
purposes:
  marketing: { description: Offers, lawfulBasis: consent }
clients:
  console: { scopes: [customers:read, customers:write, marketing:read] }
routes:
  - route: GET /customers/:id
    scopes: [customers:read]
    dataSubject: { param: id }
  - route: GET /customers/:id/marketing-profile
    scopes: [marketing:read]
    purpose: marketing
    dataSubject: { param: id }
  - route: PUT /customers/:id
    scopes: [customers:write]
    dataSubject: { param: id }
`;

function policy(): Policy {
  const result = checkPolicy(POLICY);
  if (result.policy === undefined) throw new Error(JSON.stringify(result.diagnostics));
  return result.policy;
}

const options = (): WardenOptions => ({
  jwt: testJwtOptions(),
  policy: policy(),
  audit: { sinks: [new MemorySink()] },
  metrics: false,
  logger: { warn() {}, error() {} },
});

const ROUTE = 'GET /customers/:id/marketing-profile';
const RULE = 'routes[1] (GET /customers/:id/marketing-profile)';
const DIFFERENCE = "the code declares lawful basis 'legitimate_interests' instead of consent";

/** The start-up failure names the route, the policy rule and the difference. */
function expectWeakened(error: unknown): void {
  expect(error).toBeInstanceOf(ConfigError);
  const message = (error as Error).message;
  expect(message).toContain(`${ROUTE}: ${DIFFERENCE}`);
  expect(message).toContain(`policy rule ${RULE} requires scopes [marketing:read] and consent`);
}

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

const ok = () => undefined;

describe('drift: Express', () => {
  function app(weaken: boolean) {
    const tw = tx.tokenwarden(options());
    const a = express();
    a.get('/health', ok);
    a.use(tw);
    a.get('/customers/:id', ok);
    a.put('/customers/:id', ok);
    if (weaken)
      a.get('/customers/:id/marketing-profile', tw.lawfulBasis('legitimate_interests'), ok);
    else a.get('/customers/:id/marketing-profile', ok);
    return { a, tw };
  }

  it('start-up fails on a step that weakens the policy', async () => {
    const { a, tw } = app(true);
    expectWeakened(caught(() => tx.checkPolicyDrift(a, policy(), { drift: 'error' })));
    await tw.warden.close();
  });

  it('passes when the code agrees (open routes above the middleware are outside)', async () => {
    const { a, tw } = app(false);
    expect(tx.checkPolicyDrift(a, policy(), { drift: 'error' })).toEqual([]);
    await tw.warden.close();
  });

  it('finds routes the policy misses, rules without handlers, rules served unguarded', async () => {
    const tw = tx.tokenwarden(options());
    const a = express();
    a.get('/customers/:id', ok);
    const nested = express.Router();
    nested.get('/customers/:id/marketing-profile', tx.requireScopes('marketing:read'), ok);
    a.use(tw);
    a.use('/', nested);
    a.delete('/customers/:id', ok);
    const findings = tx.checkPolicyDrift(a, policy(), { drift: 'warn', logger: { warn() {} } });
    expect(findings.map((f) => [f.kind, f.route ?? f.rule])).toEqual([
      ['unguarded', 'GET /customers/:id'],
      ['unmatched_route', 'DELETE /customers/:id'],
      ['missing_handler', 'routes[2] (PUT /customers/:id)'],
    ]);
    await tw.warden.close();
  });

  it("fails by default when NODE_ENV is 'production', warns otherwise", async () => {
    const { a, tw } = app(true);
    const before = process.env.NODE_ENV;
    try {
      process.env.NODE_ENV = 'production';
      expectWeakened(caught(() => tx.checkPolicyDrift(a, policy())));
      process.env.NODE_ENV = 'development';
      const warnings: string[] = [];
      tx.checkPolicyDrift(a, policy(), { logger: { warn: (m) => warnings.push(m) } });
      expect(warnings).toEqual([expect.stringContaining(DIFFERENCE)]);
    } finally {
      process.env.NODE_ENV = before;
      await tw.warden.close();
    }
  });
});

describe('drift: Koa', () => {
  it('start-up fails on a step that weakens the policy', async () => {
    const tw = tk.tokenwarden(options());
    const app = new Koa();
    const router = new Router();
    router.get('/customers/:id', ok);
    router.put('/customers/:id', ok);
    router.get('/customers/:id/marketing-profile', tw.lawfulBasis('legitimate_interests'), ok);
    app.use(tw).use(router.routes());
    expectWeakened(caught(() => tk.checkPolicyDrift(app, policy(), { drift: 'error' })));
    await tw.warden.close();
  });

  it('passes when the code agrees, and finds fewer scopes', async () => {
    const tw = tk.tokenwarden(options());
    const app = new Koa();
    const router = new Router();
    router.get('/customers/:id', tw.requireScopes('customers:write'), ok);
    router.put('/customers/:id', ok);
    router.get('/customers/:id/marketing-profile', ok);
    app.use(tw).use(router.routes());
    const findings = tk.checkPolicyDrift(app, policy(), { drift: 'warn', logger: { warn() {} } });
    expect(findings).toEqual([
      expect.objectContaining({
        kind: 'weakened',
        route: 'GET /customers/:id',
        message: expect.stringContaining(
          "the code requires scopes [customers:write], without 'customers:read'",
        ),
      }),
    ]);
    await tw.warden.close();
  });
});

describe('drift: Nest', () => {
  @Controller('customers')
  class CustomersController {
    @Get(':id')
    one() {
      return {};
    }
    @Put(':id')
    change() {
      return {};
    }
    @Get(':id/marketing-profile')
    @Scopes('marketing:read')
    @LawfulBasis('legitimate_interests')
    profile() {
      return {};
    }
  }

  it('start-up (app.init) fails on a decorator that weakens the policy', async () => {
    @Module({
      imports: [TokenwardenModule.forRoot({ ...options(), drift: 'error' })],
      controllers: [CustomersController],
      providers: [{ provide: APP_GUARD, useClass: TokenwardenGuard }],
    })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
    let failure: unknown;
    try {
      await app.init();
    } catch (error) {
      failure = error;
    }
    expectWeakened(failure);
    expectWeakened(caught(() => nestDrift(app, policy(), { drift: 'error' })));
    await app.close();
  });
});
