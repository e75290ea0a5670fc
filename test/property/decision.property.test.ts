import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createWarden, MemorySink, MemoryStore, type RequestView } from '@tokenwarden/core';
import { testJwtOptions } from '@tokenwarden/testing';
import type { AdapterDriver, RunningApp } from '../conformance/app-spec';
import { expressDriver } from '../conformance/drivers/express';
import { koaDriver } from '../conformance/drivers/koa';
import { nestExpressDriver, nestFastifyDriver } from '../conformance/drivers/nest';
import { closeAgent, get, portOf } from '../hostile/http';
import { authorizationValue, jwtShaped, validTokens } from './arbitraries';

/**
 * The whole decision on arbitrary requests: the warden never throws, never answers 5xx and
 * allows only a request carrying exactly one of the validly signed tokens, once, as a Bearer
 * credential.
 */

const tokens = validTokens();
const BEARER = /^bearer +(\S+)$/i;

/** True when the header values are exactly one Bearer credential holding a valid token. */
function carriesValidToken(values: readonly string[] | undefined): boolean {
  if (values === undefined || values.length !== 1) return false;
  const token = BEARER.exec(values[0]!.trim())?.[1];
  return token !== undefined && tokens.includes(token);
}

const requestInputs = fc.record({
  headers: fc.option(fc.array(authorizationValue(tokens), { maxLength: 3 }), { nil: undefined }),
  query: fc.option(jwtShaped, { nil: undefined }),
  path: fc.constantFrom('/customers/c1', '/customers/c1/profile', '/plain', '/health'),
  requirement: fc.constantFrom(
    undefined,
    { scopes: ['customers:read'] },
    { consent: { purpose: 'marketing' } },
    { public: true },
  ),
});

describe('Warden.check on arbitrary requests', () => {
  const sink = new MemorySink(100_000);
  const warden = createWarden({
    jwt: testJwtOptions(),
    store: new MemoryStore(),
    purposes: ['marketing'],
    audit: { sinks: [sink], fingerprintKey: randomBytes(32) },
    logger: { warn() {}, error() {} },
  });
  afterAll(() => warden.close());

  it('never throws, never decides 5xx, and allows only one valid Bearer token (or none on a public route)', async () => {
    await fc.assert(
      fc.asyncProperty(requestInputs, async (input) => {
        const url =
          input.query === undefined ? input.path : `${input.path}?access_token=${input.query}`;
        const view: RequestView = {
          method: 'GET',
          path: input.path,
          url,
          headerValues: (name) => (name === 'authorization' ? input.headers : undefined),
        };
        const decision = await warden.check(view, input.requirement);
        if (decision.outcome === 'deny') {
          expect([400, 401, 403]).toContain(decision.status);
          return;
        }
        // A query-string token is ignored while query tokens are off (refused next to a header).
        if ((input.headers ?? []).length === 0) {
          expect(decision.reason).toBe('public_route');
          expect(input.requirement).toEqual({ public: true });
          return;
        }
        expect(input.query).toBeUndefined();
        expect(carriesValidToken(input.headers)).toBe(true);
      }),
      { numRuns: 1500 },
    );
  });
});

/** Header values Node's HTTP client will send (no control characters other than tab). */
const sendable = (value: string) => /^[\t\x20-\x7e\x80-\xff]*$/.test(value);

describe.each([expressDriver, koaDriver, nestExpressDriver, nestFastifyDriver] as AdapterDriver[])(
  'arbitrary Authorization headers over HTTP: $name',
  (driver) => {
    let app: RunningApp;
    let port: number;
    beforeAll(async () => {
      app = await driver.start({
        jwt: testJwtOptions(),
        store: new MemoryStore(),
        purposes: ['marketing', 'billing'],
        audit: { sinks: [new MemorySink()], fingerprintKey: randomBytes(32) },
        logger: { warn() {}, error() {} },
      });
      port = portOf(app.server);
    });
    afterAll(async () => {
      closeAgent();
      await app.close();
    });

    it('answers no 5xx and 200 only for one valid token', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(authorizationValue(tokens).filter(sendable), { minLength: 1, maxLength: 2 }),
          async (values) => {
            const reply = await get(port, '/customers/c1', { authorization: values });
            expect(reply.status).toBeLessThan(500);
            // Node trims the value and Express and Koa see the same bytes the client sent.
            if (reply.status === 200) expect(carriesValidToken(values)).toBe(true);
            else expect([400, 401, 403]).toContain(reply.status);
          },
        ),
        { numRuns: 150 },
      );
    });
  },
);
