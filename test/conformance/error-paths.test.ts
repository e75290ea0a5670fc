/**
 * No stack trace and no library message reaches a client from a Tokenwarden handler, on any
 * adapter, under the framework's default error handler (Express and Koa outside production, so
 * with their most talkative defaults): a metrics collector that throws and a key source that
 * throws give a generic 500. The token endpoint's failures are in token-endpoint.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Gauge, Registry } from 'prom-client';
import request from 'supertest';
import { MemoryStore, TokenEndpoint } from '@tokenwarden/core';
import { testIssuer, testJwtOptions } from '@tokenwarden/testing';
import type { AdapterDriver, RunningApp } from './app-spec';
import { expressDriver } from './drivers/express';
import { koaDriver } from './drivers/koa';
import { nestExpressDriver, nestFastifyDriver } from './drivers/nest';

/** What the failing parts throw: text that must never reach a client. */
const LEAK = 'ECONNREFUSED 10.20.30.40:6379 (vault token hvs.CAESIJ)';

const DRIVERS: AdapterDriver[] = [expressDriver, koaDriver, nestExpressDriver, nestFastifyDriver];

function expectNothingLeaked(res: { status: number; text: string }): void {
  expect(res.status).toBe(500);
  expect(res.text).not.toContain(LEAK);
  expect(res.text).not.toContain('ECONNREFUSED');
  // A stack frame line, as Express's development error page prints them.
  expect(res.text).not.toMatch(/\bat \S+ \(/);
  expect(res.text).not.toMatch(/\.ts:\d+|\.js:\d+/);
}

describe.each(DRIVERS.map((driver) => [driver.name, driver] as const))(
  'error paths on %s',
  (_name, driver) => {
    let app: RunningApp;
    beforeAll(async () => {
      const previous = process.env.NODE_ENV;
      process.env.NODE_ENV = 'development';
      const registry = new Registry();
      new Gauge({
        name: 'app_failing_collector',
        help: 'A collector whose backend is down.',
        registers: [registry],
        collect() {
          throw new Error(LEAK);
        },
      });
      // Nest serves the JWKS from the token endpoint's controller, so there is one endpoint.
      const { issuer } = await testIssuer({ crm: { scopes: ['customers:read'] } });
      const endpoint = new TokenEndpoint({ issuer, clientSecrets: { crm: 'x'.repeat(32) } });
      try {
        app = await driver.start(
          {
            jwt: testJwtOptions(),
            store: new MemoryStore(),
            purposes: ['marketing', 'billing'],
            metrics: { registry },
            logger: { warn() {}, error() {} },
          },
          {
            endpoints: { '/oauth/token': endpoint },
            jwks: {
              jwks() {
                throw new Error(LEAK);
              },
            },
          },
        );
      } finally {
        process.env.NODE_ENV = previous;
      }
    });
    afterAll(() => app.close());

    it('answers a failing metrics collector with a generic 500', async () => {
      expectNothingLeaked(await request(app.server).get('/metrics'));
    });

    it('answers a failing key source with a generic 500', async () => {
      const res = await request(app.server).get('/.well-known/jwks.json');
      expectNothingLeaked(res);
      expect(res.headers['cache-control']).toBe('no-store');
    });
  },
);
