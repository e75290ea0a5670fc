/**
 * The Nest adapter against the Express adapter, the model: for the same warden and the same
 * requests, the same status, problem+json body, challenge headers and audit event.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import express, { type Express } from 'express';
import request from 'supertest';
import { createWarden, MemorySink, type AuditEvent, type Warden } from '@tokenwarden/core';
import { lawfulBasis, requireConsent, requireScopes, tokenwarden } from '@tokenwarden/express';
import { TokenwardenModule } from '@tokenwarden/nest';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import { appMetadata, PLATFORMS, settled, startApp, tokenIdOf } from './support';

interface Case {
  readonly name: string;
  readonly method: 'get' | 'put';
  readonly path: string;
  /** What the Express adapter answers. */
  readonly status: number;
  /** Authorization header value(s). */
  readonly authorization?: () => string | string[];
}

const revoked = mintToken({ claims: { sub: 'parity-revoked' } });

const CASES: readonly Case[] = [
  { name: 'no token', status: 401, method: 'get', path: '/customers/c1' },
  {
    name: 'malformed token',
    status: 401,
    method: 'get',
    path: '/customers/c1',
    authorization: () => 'Bearer a.b.c',
  },
  {
    name: 'other scheme',
    status: 401,
    method: 'get',
    path: '/customers/c1',
    authorization: () => 'Basic dXNlcjpwdw==',
  },
  {
    name: 'two tokens',
    status: 400,
    method: 'get',
    path: '/customers/c1',
    authorization: () => [`Bearer ${mintToken()}`, `Bearer ${mintToken()}`],
  },
  {
    name: 'expired token',
    status: 401,
    method: 'get',
    path: '/customers/c1',
    authorization: () =>
      `Bearer ${mintToken({ now: Date.now() - 3_600_000, lifetimeSeconds: 60 })}`,
  },
  {
    name: 'wrong audience',
    status: 401,
    method: 'get',
    path: '/customers/c1',
    authorization: () => `Bearer ${mintToken({ claims: { aud: 'another-api' } })}`,
  },
  {
    name: 'revoked token',
    status: 401,
    method: 'get',
    path: '/customers/c1',
    authorization: () => `Bearer ${revoked}`,
  },
  {
    name: 'insufficient scope',
    status: 403,
    method: 'put',
    path: '/customers/c1',
    authorization: () => `Bearer ${mintToken()}`,
  },
  {
    name: 'consent missing',
    status: 403,
    method: 'get',
    path: '/customers/parity-9/profile',
    authorization: () => `Bearer ${mintToken({ claims: { scope: 'marketing:read' } })}`,
  },
  {
    name: 'allowed read',
    status: 200,
    method: 'get',
    path: '/customers/c1',
    authorization: () => `Bearer ${mintToken()}`,
  },
  {
    name: 'lawful basis',
    status: 200,
    method: 'get',
    path: '/invoices',
    authorization: () => `Bearer ${mintToken()}`,
  },
];

const HEADERS = ['content-type', 'www-authenticate', 'cache-control', 'retry-after'];

function expressApp(warden: Warden): Express {
  const app = express();
  app.use(tokenwarden(warden));
  app.get('/customers/:id', requireScopes('customers:read'), (req, res) => {
    res.json({ id: req.params.id, by: req.auth?.subject });
  });
  app.put('/customers/:id', requireScopes('customers:write'), (req, res) => {
    res.json({ id: req.params.id, updated: true });
  });
  app.get(
    '/customers/:id/profile',
    requireScopes('marketing:read'),
    requireConsent('marketing', { subject: { param: 'id' } }),
    (req, res) => {
      res.json({ id: req.params.id, segments: ['books'] });
    },
  );
  app.get('/invoices', lawfulBasis('legal_obligation', { purpose: 'billing' }), (_req, res) => {
    res.json([]);
  });
  return app;
}

/** An audit event without what differs between any two requests (id, time, token). */
function comparable(event: AuditEvent): Record<string, unknown> {
  const rest: Record<string, unknown> = { ...event };
  for (const key of ['id', 'time', 'requestId', 'tokenId', 'route', 'seq', 'prevHash', 'hash']) {
    delete rest[key];
  }
  if (rest.tokenFingerprint !== undefined) rest.tokenFingerprint = 'present';
  return rest;
}

/** The route template of a request path in the table. */
function templateOf(path: string): string {
  return path.replace(/^\/customers\/[^/]+/, '/customers/:id');
}

describe.each(PLATFORMS)('Nest on %s answers like the Express adapter', (platform) => {
  let warden: Warden;
  let sink: MemorySink;
  let nest: INestApplication;
  let model: Express;

  beforeAll(async () => {
    sink = new MemorySink();
    warden = createWarden({
      jwt: testJwtOptions(),
      purposes: ['marketing', 'billing'],
      audit: { sinks: [sink], fingerprintKey: 'p'.repeat(32) },
    });
    await warden.revokeToken(tokenIdOf(revoked));
    nest = await startApp(appMetadata([TokenwardenModule.forRoot(warden)]), platform);
    model = expressApp(warden);
  });

  afterAll(async () => {
    await nest.close();
    await warden.close();
  });

  it.each(CASES)('$name: $status', async ({ name, method, path, status, authorization }) => {
    const value = authorization?.();
    const send = async (server: Parameters<typeof request>[0], id: string) => {
      let call = request(server)[method](path).set('x-request-id', id);
      // An array sends the header once per value (supertest types arrays for Cookie only).
      if (value !== undefined) call = call.set('authorization', value as string);
      return call;
    };
    const id = `${platform}-${name.replace(/\W/g, '-')}`;
    const expected = await send(model, `${id}-express`);
    const actual = await send(nest.getHttpServer(), `${id}-nest`);
    expect(expected.status).toBe(status);
    expect(actual.status).toBe(expected.status);
    if (expected.status >= 400) {
      expect(actual.body).toEqual(expected.body);
      for (const header of HEADERS) {
        expect([header, normalise(actual.headers[header])]).toEqual([
          header,
          normalise(expected.headers[header]),
        ]);
      }
    }
    await settled(warden);
    const [ours, ...extra] = sink.events.filter((e) => e.requestId === `${id}-nest`);
    const [theirs] = sink.events.filter((e) => e.requestId === `${id}-express`);
    expect(extra).toEqual([]);
    expect(comparable(ours!)).toEqual(comparable(theirs!));
    // Nest has matched the route before its guards run, so even early denials name the
    // template; the Express middleware refuses before routing, where no template is known, and
    // records the unmatched marker: never the raw path.
    expect(ours!.route).toBe(templateOf(path));
    expect(['(unmatched)', templateOf(path)]).toContain(theirs!.route);
  });
});

/** Nest's JSON reply appends `; charset=utf-8` on both platforms; the media type is what counts. */
function normalise(value: unknown): unknown {
  return typeof value === 'string' ? value.replace(/; charset=utf-8$/, '') : value;
}
