import 'reflect-metadata';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import Router from '@koa/router';
import express from 'express';
import Koa from 'koa';
import request from 'supertest';
import {
  ApiKeys,
  createWarden,
  MemoryCredentialStore,
  MemorySink,
  type Warden,
} from '@tokenwarden/core';
import * as tokenwardenExpress from '@tokenwarden/express';
import * as tokenwardenKoa from '@tokenwarden/koa';
import { secretScanningController, TokenwardenGuard, TokenwardenModule } from '@tokenwarden/nest';
import { testJwtOptions } from '@tokenwarden/testing';
import { listen } from '../conformance/drivers/listen';

/**
 * The leak response on every adapter: a secret scanner's signed report revokes what it names
 * (POST /leaks), and a credential sent in the query string is counted, audited and, with
 * `onExposure: 'revoke'`, revoked (GET /orders?access_token=…). The scanner's key pair is made
 * for this run.
 */
const scanner = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const forger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const KEY_ID = randomBytes(32).toString('hex');
const publicKeys = {
  [KEY_ID]: scanner.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
};

interface RunningApp {
  readonly server: Server;
  close(): Promise<void>;
}

type Start = (warden: Warden) => Promise<RunningApp>;

const orders = { ok: true };

const startExpress: Start = async (warden) => {
  const app = express();
  app.post('/leaks', tokenwardenExpress.secretScanningHandler({ warden, publicKeys }));
  app.use(tokenwardenExpress.tokenwarden(warden));
  app.get('/orders', (_req, res) => void res.json(orders));
  const server = await listen(app);
  return { server, close: () => new Promise((done) => server.close(() => done())) };
};

const startKoa: Start = async (warden) => {
  const app = new Koa();
  const open = new Router();
  open.post('/leaks', tokenwardenKoa.secretScanningHandler({ warden, publicKeys }));
  const api = new Router();
  api.get('/orders', (ctx) => void (ctx.body = orders));
  app.use(open.routes());
  app.use(tokenwardenKoa.tokenwarden(warden));
  app.use(api.routes());
  const server = await listen(app.callback());
  return { server, close: () => new Promise((done) => server.close(() => done())) };
};

@Controller()
class OrdersController {
  @Get('orders')
  list() {
    return orders;
  }
}

function startNest(platform: 'express' | 'fastify'): Start {
  return async (warden) => {
    @Module({
      imports: [TokenwardenModule.forRoot({ warden })],
      controllers: [secretScanningController({ path: 'leaks', publicKeys }), OrdersController],
      providers: [{ provide: APP_GUARD, useClass: TokenwardenGuard }],
    })
    class LeaksModule {}
    let app: INestApplication;
    if (platform === 'fastify') {
      const fastify = await NestFactory.create<NestFastifyApplication>(
        LeaksModule,
        new FastifyAdapter(),
        { logger: false, rawBody: true },
      );
      await fastify.listen(0, '127.0.0.1');
      app = fastify;
    } else {
      app = await NestFactory.create(LeaksModule, { logger: false, rawBody: true });
      await app.listen(0, '127.0.0.1');
    }
    return { server: app.getHttpServer() as Server, close: () => app.close() };
  };
}

const ADAPTERS: readonly [string, Start][] = [
  ['express', startExpress],
  ['koa', startKoa],
  ['nest-express', startNest('express')],
  ['nest-fastify', startNest('fastify')],
];

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function signed(matches: unknown, signer = scanner.privateKey) {
  const body = typeof matches === 'string' ? matches : JSON.stringify(matches);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'github-public-key-identifier': KEY_ID,
      'github-public-key-signature': sign('sha256', Buffer.from(body), signer).toString('base64'),
    },
  };
}

const match = (token: string) => ({
  token,
  type: 'tokenwarden_api_key',
  url: 'https://github.com/example/repo/blob/main/.env',
  source: 'content',
});

describe.each(ADAPTERS)('leak response on %s', (_name, start) => {
  let warden: Warden;
  let sink: MemorySink;
  let apiKeys: ApiKeys;
  let app: RunningApp;

  beforeAll(async () => {
    const credentials = new MemoryCredentialStore();
    sink = new MemorySink();
    warden = createWarden({
      jwt: testJwtOptions(),
      apiKeys: { store: credentials },
      credentials: { onExposure: 'revoke' },
      audit: { sinks: [sink], fingerprintKey: randomBytes(32) },
      logger: { warn() {}, error() {} },
    });
    apiKeys = new ApiKeys({ store: credentials, audit: warden, revoker: warden });
    app = await start(warden);
  });
  afterAll(async () => {
    await app.close();
    await warden.close();
  });

  const post = (report: { body: string; headers: Record<string, string> }) =>
    request(app.server).post('/leaks').set(report.headers).send(report.body);
  const ordersWith = (key: string) =>
    request(app.server).get('/orders').set('authorization', `Bearer ${key}`);
  async function events(type: string) {
    await warden.flushAudit();
    return sink.events.filter((e) => e.type === type);
  }

  it('a signed report revokes a live API key: the next request with it is 401 token_revoked', async () => {
    const { key, record } = await apiKeys.create({ client: 'billing', scopes: ['orders:read'] });
    expect((await ordersWith(key)).status).toBe(200);
    const res = await post(signed([match(key)]));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(res.text)).toEqual([
      { token_hash: sha256(key), token_type: 'tokenwarden_api_key', label: 'true_positive' },
    ]);
    expect(res.text).not.toContain(key);
    const refused = await ordersWith(key);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ code: 'token_revoked' });
    const leaked = await events('credential.leaked');
    expect(leaked.filter((e) => e.tokenId === record.keyId)).toHaveLength(1);
  });

  it('refuses a badly signed report and a replayed one with 401, revoking nothing', async () => {
    const { key } = await apiKeys.create({ client: 'billing', scopes: ['orders:read'] });
    expect((await post(signed([match(key)], forger.privateKey))).status).toBe(401);
    const unsigned = signed([match(key)]);
    const headers: Record<string, string> = { ...unsigned.headers };
    delete headers['github-public-key-signature'];
    expect((await post({ body: unsigned.body, headers })).status).toBe(401);
    expect((await ordersWith(key)).status).toBe(200);
    const first = signed([match('unknown-' + randomBytes(8).toString('hex'))]);
    expect((await post(first)).status).toBe(200);
    const replayed = await post(first);
    expect(replayed.status).toBe(401);
    expect(JSON.parse(replayed.text)).toMatchObject({ error: 'report_replayed' });
  });

  it('refuses a signed body that is not a list of matches with 400', async () => {
    const res = await post(signed({ token: 'a', type: 'b' }));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toMatchObject({ error: 'report_malformed' });
  });

  it('answers false_positive for an unknown token, with no side effects', async () => {
    await warden.flushAudit();
    const before = sink.events.length;
    const token = 'twk_live_' + randomBytes(20).toString('hex');
    const res = await post(signed([match(token)]));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual([
      { token_hash: sha256(token), token_type: 'tokenwarden_api_key', label: 'false_positive' },
    ]);
    await warden.flushAudit();
    expect(sink.events.length).toBe(before);
  });

  it('counts, audits and (onExposure: revoke) revokes an API key sent as ?access_token=', async () => {
    const { key, record } = await apiKeys.create({ client: 'billing', scopes: ['orders:read'] });
    const res = await request(app.server).get(`/orders?access_token=${key}`);
    // Refused as ever: a query-string credential is no credential.
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ code: 'token_missing' });
    const metrics = await warden.metrics.render();
    expect(metrics).toMatch(/^tokenwarden_credential_exposed_total\{place="query"\} 1$/m);
    const exposed = (await events('credential.exposed')).filter((e) => e.tokenId === record.keyId);
    expect(exposed).toHaveLength(1);
    expect(exposed[0]).toMatchObject({
      reason: 'query',
      tokenFingerprint: expect.any(String),
      detail: { place: 'query', parameter: 'access_token', action: 'revoked', kind: 'api_key' },
    });
    expect(JSON.stringify(sink.events)).not.toContain(key);
    const refused = await ordersWith(key);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ code: 'token_revoked' });
  });
});

describe('secret scanning behind a body parser', () => {
  let warden: Warden;
  beforeAll(() => {
    warden = createWarden({
      jwt: testJwtOptions(),
      audit: false,
      logger: { warn() {}, error() {} },
    });
  });
  afterAll(() => warden.close());

  async function answerWith(parser: express.RequestHandler) {
    const app = express();
    app.use(parser);
    app.post('/leaks', tokenwardenExpress.secretScanningHandler({ warden, publicKeys }));
    const server = await listen(app);
    try {
      const report = signed([match('unknown-' + randomBytes(8).toString('hex'))]);
      return await request(server).post('/leaks').set(report.headers).send(report.body);
    } finally {
      await new Promise<void>((done) => server.close(() => done()));
    }
  }

  it('takes the raw body an Express JSON parser keeps as req.rawBody', async () => {
    const keeping = express.json({
      verify: (req, _res, buf) => void ((req as unknown as { rawBody?: Buffer }).rawBody = buf),
    });
    expect((await answerWith(keeping)).status).toBe(200);
  });

  it('answers a generic 500 when a parser consumed the raw body, naming no token', async () => {
    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const res = await answerWith(express.json());
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: 'server_error' });
      expect(String(errors.mock.calls[0]?.[0])).toMatch(/raw body/);
    } finally {
      errors.mockRestore();
    }
  });
});
