/**
 * The token endpoint answers the same on every adapter, with or without a body parser in front of
 * it, for the same request: the 8 KiB body limit, the content type, repeated parameters, and a
 * store or revoker that throws (a generic 5xx, never a stack trace or the error's text).
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import {
  MemoryCredentialStore,
  MemoryStore,
  RefreshTokens,
  type SigningKeyRing,
  TokenEndpoint,
  type TokenRevoker,
} from '@tokenwarden/core';
import { testIssuer, testJwtOptions } from '@tokenwarden/testing';
import type { AdapterDriver, RunningApp } from './app-spec';
import { expressDriver, expressParsedDriver } from './drivers/express';
import { koaDriver, koaParsedDriver } from './drivers/koa';
import { nestExpressDriver, nestExpressUnparsedDriver, nestFastifyDriver } from './drivers/nest';

const DRIVERS: AdapterDriver[] = [
  expressDriver,
  expressParsedDriver,
  koaDriver,
  koaParsedDriver,
  nestExpressDriver,
  nestExpressUnparsedDriver,
  nestFastifyDriver,
];

const secret = randomBytes(32).toString('base64url');
/** What the failing backends throw: text that must never reach a client. */
const LEAK = 'ECONNREFUSED 10.20.30.40:6379 (credential vault)';

const TOO_LARGE = {
  error: 'invalid_request',
  error_description: 'the body is larger than 8192 bytes',
};
const WRONG_TYPE = {
  error: 'invalid_request',
  error_description: 'the body must be application/x-www-form-urlencoded (or application/json)',
};
const REPEATED = { error: 'invalid_request', error_description: 'a parameter is repeated' };
const SERVER_ERROR = {
  error: 'server_error',
  error_description: 'the token request could not be completed',
};

/** The parts of an answer every adapter must give alike (fresh tokens masked). */
interface Answer {
  readonly status: number;
  readonly type: string | undefined;
  readonly cacheControl: string | undefined;
  readonly challenge: string | undefined;
  readonly body: unknown;
  readonly text: string;
}

interface Deployment {
  readonly app: RunningApp;
  readonly ring: SigningKeyRing;
  readonly logged: string[];
}

/** A credential store that fails when a refresh token is looked up. */
class ExplodingCredentialStore extends MemoryCredentialStore {
  override findRefreshFamily(): never {
    throw new Error(LEAK);
  }
}

async function deploy(driver: AdapterDriver): Promise<Deployment> {
  const { ring, issuer } = await testIssuer(
    { crm: { scopes: ['customers:read'] }, device: { scopes: ['customers:read'] } },
    { maxTokenLifetimeMs: 600_000 },
  );
  const logged: string[] = [];
  const logger = {
    error: (message: string, fields?: object) =>
      logged.push(`${message} ${JSON.stringify(fields)}`),
  };
  const failingRevoker: TokenRevoker = {
    revokeToken: () => Promise.reject(new Error(LEAK)),
  };
  const endpoint = (refreshTokens: RefreshTokens) =>
    new TokenEndpoint({
      issuer,
      clientSecrets: { crm: secret, device: secret },
      refreshTokens,
      refreshTokenClients: ['device'],
      logger,
    });
  const app = await driver.start(
    {
      jwt: testJwtOptions(),
      store: new MemoryStore(),
      purposes: ['marketing', 'billing'],
      logger: { warn() {}, error() {} },
    },
    {
      endpoints: {
        '/oauth/token': endpoint(
          new RefreshTokens({
            store: new MemoryCredentialStore(),
            revoker: { revokeToken: () => Promise.resolve() },
          }),
        ),
        '/oauth/failing-revoker': endpoint(
          new RefreshTokens({ store: new MemoryCredentialStore(), revoker: failingRevoker }),
        ),
        '/oauth/failing-store': endpoint(
          new RefreshTokens({
            store: new ExplodingCredentialStore(),
            revoker: { revokeToken: () => Promise.resolve() },
          }),
        ),
      },
      jwks: ring,
    },
  );
  return { app, ring, logged };
}

function answerOf(res: {
  status: number;
  headers: Record<string, string | undefined>;
  text: string;
}): Answer {
  let body: unknown;
  try {
    body = JSON.parse(res.text) as unknown;
  } catch {
    body = res.text;
  }
  if (body !== null && typeof body === 'object') {
    const masked = { ...(body as Record<string, unknown>) };
    for (const name of ['access_token', 'refresh_token']) {
      if (typeof masked[name] === 'string') masked[name] = '<token>';
    }
    // Each deployment has keys of its own: compare what kind they are.
    if (Array.isArray(masked.keys)) {
      masked.keys = (masked.keys as { kty?: unknown; alg?: unknown }[]).map(
        (k) => `${String(k.kty)} ${String(k.alg)}`,
      );
    }
    body = masked;
  }
  return {
    status: res.status,
    type: res.headers['content-type']?.split(';')[0],
    cacheControl: res.headers['cache-control'],
    challenge: res.headers['www-authenticate'],
    body,
    text: res.text,
  };
}

/** A form body sent chunked: no Content-Length, so only its size read or parsed can tell. */
function postChunked(server: Server, path: string, chunks: readonly string[]): Promise<Answer> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`crm:${secret}`).toString('base64')}`,
          'transfer-encoding': 'chunked',
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve(
            answerOf({
              status: res.statusCode ?? 0,
              headers: res.headers as Record<string, string | undefined>,
              text,
            }),
          ),
        );
      },
    );
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

type Case = {
  readonly name: string;
  readonly run: (server: Server) => Promise<Answer>;
  readonly expect: (answer: Answer) => void;
};

const post = (server: Server, path = '/oauth/token') =>
  request(server).post(path).auth('crm', secret);
const pad = 'x'.repeat(10_000);

/** The refresh grant up to its last step, which reaches the failing backend. */
async function refreshThrough(server: Server, path: string, replay: boolean): Promise<Answer> {
  const call = (form: Record<string, string>) =>
    request(server).post(path).auth('device', secret).type('form').send(form);
  const first = await call({ grant_type: 'client_credentials' });
  expect(first.status).toBe(200);
  const presented = first.body.refresh_token as string;
  if (replay) {
    const second = await call({ grant_type: 'refresh_token', refresh_token: presented });
    expect(second.status).toBe(200);
  }
  // A replayed token revokes its family's access tokens: the revoker throws.
  return answerOf(await call({ grant_type: 'refresh_token', refresh_token: presented }));
}

const expectError = (status: number, body: object) => (answer: Answer) => {
  expect(answer.status).toBe(status);
  expect(answer.type).toBe('application/json');
  expect(answer.cacheControl).toBe('no-store');
  expect(answer.body).toEqual(body);
};

const expectFailure = (answer: Answer) => {
  expectError(500, SERVER_ERROR)(answer);
  expect(answer.text).not.toContain('ECONNREFUSED');
  expect(answer.text).not.toContain('10.20.30.40');
  expect(answer.text).not.toMatch(/\bat \S+ \(|Error:/);
};

const CASES: readonly Case[] = [
  {
    name: 'a form request gets a token',
    run: async (server) =>
      answerOf(await post(server).type('form').send({ grant_type: 'client_credentials' })),
    expect: (answer) => {
      expect(answer.status).toBe(200);
      expect(answer.cacheControl).toBe('no-store');
      expect(answer.body).toEqual({
        access_token: '<token>',
        token_type: 'Bearer',
        expires_in: 600,
        scope: 'customers:read',
      });
    },
  },
  {
    name: 'a JSON request with client_secret_post gets a token',
    run: async (server) =>
      answerOf(
        await request(server)
          .post('/oauth/token')
          .type('json')
          .send({ grant_type: 'client_credentials', client_id: 'crm', client_secret: secret }),
      ),
    expect: (answer) => {
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ token_type: 'Bearer', scope: 'customers:read' });
    },
  },
  {
    name: 'a wrong secret: 401 invalid_client with a Basic challenge',
    run: async (server) =>
      answerOf(
        await request(server)
          .post('/oauth/token')
          .auth('crm', 'not-the-secret')
          .type('form')
          .send({ grant_type: 'client_credentials' }),
      ),
    expect: (answer) => {
      expectError(401, {
        error: 'invalid_client',
        error_description: 'client authentication failed',
      })(answer);
      expect(answer.challenge).toBe('Basic realm="token"');
    },
  },
  {
    name: 'a 10 KB form body: 400 invalid_request',
    run: async (server) =>
      answerOf(await post(server).type('form').send(`grant_type=client_credentials&pad=${pad}`)),
    expect: expectError(400, TOO_LARGE),
  },
  {
    name: 'a 10 KB JSON body: 400 invalid_request',
    run: async (server) =>
      answerOf(await post(server).type('json').send({ grant_type: 'client_credentials', pad })),
    expect: expectError(400, TOO_LARGE),
  },
  {
    name: 'a 10 KB form body sent chunked (no Content-Length): 400 invalid_request',
    run: (server) =>
      postChunked(server, '/oauth/token', [
        'grant_type=client_credentials&pad=',
        ...Array.from({ length: 10 }, () => 'x'.repeat(1000)),
      ]),
    expect: expectError(400, TOO_LARGE),
  },
  {
    name: 'a body of another content type (text/plain): 400 invalid_request',
    run: async (server) =>
      answerOf(await post(server).type('text').send('grant_type=client_credentials')),
    expect: expectError(400, WRONG_TYPE),
  },
  {
    name: 'a repeated grant_type: 400 invalid_request',
    run: async (server) =>
      answerOf(
        await post(server)
          .type('form')
          .send('grant_type=client_credentials&grant_type=client_credentials'),
      ),
    expect: expectError(400, REPEATED),
  },
  {
    name: 'a repeated client_id (client_secret_post): 400 invalid_request',
    run: async (server) =>
      answerOf(
        await request(server)
          .post('/oauth/token')
          .type('form')
          .send(
            `grant_type=client_credentials&client_id=crm&client_id=crm&client_secret=${secret}`,
          ),
      ),
    expect: expectError(400, REPEATED),
  },
  {
    name: 'a revoker that throws during a refresh grant: 500, no stack trace, no error text',
    run: (server) => refreshThrough(server, '/oauth/failing-revoker', true),
    expect: expectFailure,
  },
  {
    name: 'a credential store that throws during a refresh grant: 500, no error text',
    run: (server) => refreshThrough(server, '/oauth/failing-store', false),
    expect: expectFailure,
  },
  {
    name: 'the JWKS: the ring keys, cacheable',
    run: async (server) => answerOf(await request(server).get('/.well-known/jwks.json')),
    expect: (answer) => {
      expect(answer.status).toBe(200);
      expect(answer.cacheControl).toBe('public, max-age=300');
      expect((answer.body as { keys: unknown[] }).keys).toHaveLength(1);
    },
  },
];

/** Every adapter's answer to every case, compared across adapters at the end. */
const answers = new Map<string, Map<string, Answer>>();

describe.each(DRIVERS)('token endpoint conformance: $name', (driver) => {
  let deployment: Deployment;
  beforeAll(async () => {
    deployment = await deploy(driver);
  });
  afterAll(async () => {
    await deployment.app.close();
    await deployment.ring.close();
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (name, testCase) => {
    const loggedBefore = deployment.logged.length;
    const answer = await testCase.run(deployment.app.server);
    testCase.expect(answer);
    if (!answers.has(name)) answers.set(name, new Map());
    answers.get(name)!.set(driver.name, { ...answer, text: '' });
    if (name.includes('throws')) {
      // The failure went to the endpoint's logger, the only place its text may appear.
      expect(deployment.logged.slice(loggedBefore).join('\n')).toContain(LEAK);
    }
  });
});

describe('token endpoint conformance: all adapters', () => {
  it.each(CASES.map((c) => [c.name] as const))('answer the same: %s', (name) => {
    const byDriver = answers.get(name);
    expect([...(byDriver?.keys() ?? [])]).toEqual(DRIVERS.map((d) => d.name));
    const [first, ...rest] = [...byDriver!.values()];
    for (const answer of rest) expect(answer).toEqual(first);
  });
});
