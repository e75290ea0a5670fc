import 'reflect-metadata';
import Router from '@koa/router';
import { Controller, Get, Module } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import Koa from 'koa';
import { ConfigError } from '@tokenwarden/core';
import * as tx from '@tokenwarden/express';
import * as tk from '@tokenwarden/koa';
import { runCli } from '@tokenwarden/cli';
import {
  checkPolicyDrift as nestDrift,
  DataSubject,
  TokenwardenGuard,
  TokenwardenModule,
} from '@tokenwarden/nest';
import {
  DRIFT_POLICY,
  driftPolicy,
  driftWardenOptions,
  expressDriftApp,
  koaDriftApp,
} from './fixtures/drift-apps';
import { appModule } from './fixtures/nest-weakened.app';

const policy = driftPolicy;
const options = driftWardenOptions;

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

const expressApp = (weaken = false) => {
  const { app: a, tw } = expressDriftApp(weaken);
  return { a, tw };
};
const FIXTURES = join(__dirname, 'fixtures');

describe('drift: Express', () => {
  const app = expressApp;

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
    const { app, tw } = koaDriftApp(true);
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

describe('drift: the data subject', () => {
  it('finds a data subject in code other than the rule (Express step, Nest decorator)', async () => {
    const { a, tw } = expressApp();
    a.put('/customers/:id', tw.dataSubject('token'), ok);
    const express = tx.checkPolicyDrift(a, policy(), { drift: 'warn', logger: { warn() {} } });
    expect(express.map((f) => f.message)).toContainEqual(
      expect.stringMatching(
        /^PUT \/customers\/:id: the code takes the data subject from the caller instead of ':id', but policy rule routes\[2\]/,
      ),
    );
    await tw.warden.close();

    @Controller('customers')
    class Customers {
      @Get(':id')
      @DataSubject({ param: 'customer' })
      one() {
        return {};
      }
    }
    @Module({
      imports: [TokenwardenModule.forRoot({ ...options(), drift: 'warn' })],
      controllers: [Customers],
      providers: [{ provide: APP_GUARD, useClass: TokenwardenGuard }],
    })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
    const nest = nestDrift(app, policy(), { drift: 'warn', logger: { warn() {} } });
    expect(nest.map((f) => f.message)).toContainEqual(
      expect.stringContaining(
        "GET /customers/:id: the code takes the data subject from ':customer' instead of ':id'",
      ),
    );
    await app.close();
  });
});

describe('drift: Nest', () => {
  it('start-up (app.init) fails on a decorator that weakens the policy', async () => {
    const app = await NestFactory.create(appModule('error'), {
      logger: false,
      abortOnError: false,
    });
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

describe('tokenwarden policy check --app', () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tw-drift-'));
    file = join(dir, 'policy.yaml');
    writeFileSync(file, DRIFT_POLICY);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function check(app: string): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const io = {
      stdout: { write: (s: string) => void (out += s) },
      stderr: { write: (s: string) => void (err += s) },
      env: {},
    } as unknown as Parameters<typeof runCli>[1];
    const code = await runCli(['policy', 'check', file, '--app', join(FIXTURES, app)], io);
    return { code, out, err };
  }

  it.each(['express-weakened.app.ts', 'koa-weakened.app.ts', 'nest-weakened.app.ts'])(
    '%s: exits 1 with the start-up message',
    async (app) => {
      const { code, out, err } = await check(app);
      expect(err).toContain('does not pass the policy check');
      expect(code).toBe(1);
      expect(out).toContain(`error drift ${ROUTE}: ${DIFFERENCE}`);
      expect(out).toContain(`policy rule ${RULE} requires scopes [marketing:read] and consent`);
    },
  );

  it('passes an application that agrees with the policy', async () => {
    const { code, out } = await check('express-agrees.app.ts');
    expect(out).toMatch(/policy OK, .*express-agrees\.app\.ts matches it/);
    expect(code).toBe(0);
  });

  it('refuses a module that gives no application, with exit 2', async () => {
    const { code, err } = await check('drift-apps.ts');
    expect(code).toBe(2);
    expect(err).toContain('gives no application Tokenwarden knows');
  });
});
