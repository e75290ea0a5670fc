import { describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import jwt from 'jsonwebtoken';
import {
  ConfigError,
  jwksResponse,
  readTokenRequestBody,
  staticSigningKey,
  TokenEndpoint,
  TokenIssuer,
  type AuditEventInput,
  type TokenRequestView,
} from '@tokenwarden/core/internal';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const secret = randomBytes(32).toString('base64url');

function make() {
  const events: AuditEventInput[] = [];
  const issuer = new TokenIssuer({
    issuer: 'https://issuer.test/',
    audience: 'api',
    keys: staticSigningKey({ kid: 'k1', alg: 'ES256', key: privateKey }),
    clients: { crm: { scopes: ['customers:read', 'orders:read'] }, nosecret: { scopes: ['a'] } },
    audit: { recordEvent: (e) => events.push(e) },
  });
  const endpoint = new TokenEndpoint({
    issuer,
    clientSecrets: { crm: secret },
    audit: { recordEvent: (e) => events.push(e) },
  });
  return { endpoint, events };
}

function request(
  body: unknown,
  headers: Record<string, string> = {},
  method = 'POST',
): TokenRequestView {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { method, header: (name) => lower[name], body };
}

const basic = (id: string, pw: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(pw)}`).toString('base64')}`;

describe('TokenEndpoint (client credentials)', () => {
  it('issues a token for Basic credentials and a form body, with no-store headers', async () => {
    const { endpoint } = make();
    const answer = await endpoint.handle(
      request('grant_type=client_credentials&scope=customers%3Aread', {
        authorization: basic('crm', secret),
        'content-type': 'application/x-www-form-urlencoded',
      }),
    );
    expect(answer.status).toBe(200);
    expect(answer.headers).toMatchObject({ 'cache-control': 'no-store', pragma: 'no-cache' });
    expect(answer.body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 900,
      scope: 'customers:read',
    });
    const claims = jwt.verify(answer.body.access_token as string, publicKey) as jwt.JwtPayload;
    expect(claims).toMatchObject({ sub: 'crm', client_id: 'crm', scope: 'customers:read' });
  });

  it('accepts client_secret_post in a parsed or JSON body; no scope means every allowed scope', async () => {
    const { endpoint } = make();
    const parsed = await endpoint.handle(
      request({ grant_type: 'client_credentials', client_id: 'crm', client_secret: secret }),
    );
    expect(parsed.status).toBe(200);
    expect(parsed.body.scope).toBe('customers:read orders:read');
    const json = await endpoint.handle(
      request(
        JSON.stringify({
          grant_type: 'client_credentials',
          client_id: 'crm',
          client_secret: secret,
        }),
        { 'content-type': 'application/json' },
      ),
    );
    expect(json.status).toBe(200);
  });

  it.each([
    [
      'a wrong secret',
      { authorization: basic('crm', 'wrong') },
      'grant_type=client_credentials',
      401,
      'invalid_client',
    ],
    [
      'an unknown client',
      { authorization: basic('ghost', secret) },
      'grant_type=client_credentials',
      401,
      'invalid_client',
    ],
    [
      'a client without a secret',
      {},
      'grant_type=client_credentials&client_id=nosecret&client_secret=xxxxxxxxxxxxxxxxxxxx',
      401,
      'invalid_client',
    ],
    ['no credentials', {}, 'grant_type=client_credentials', 401, 'invalid_client'],
    [
      'malformed Basic',
      { authorization: 'Basic !!!' },
      'grant_type=client_credentials',
      401,
      'invalid_client',
    ],
    [
      'two methods',
      { authorization: basic('crm', secret) },
      `grant_type=client_credentials&client_id=crm&client_secret=${secret}`,
      400,
      'invalid_request',
    ],
    ['no grant_type', { authorization: basic('crm', secret) }, '', 400, 'invalid_request'],
    [
      'another grant',
      { authorization: basic('crm', secret) },
      'grant_type=password',
      400,
      'unsupported_grant_type',
    ],
    [
      'a scope outside the client set',
      { authorization: basic('crm', secret) },
      'grant_type=client_credentials&scope=customers%3Awrite',
      400,
      'invalid_scope',
    ],
    [
      'a repeated parameter',
      { authorization: basic('crm', secret) },
      'grant_type=client_credentials&grant_type=client_credentials',
      400,
      'invalid_request',
    ],
    [
      'a scope with a quote',
      { authorization: basic('crm', secret) },
      'grant_type=client_credentials&scope=%22',
      400,
      'invalid_scope',
    ],
  ])('answers %s per RFC 6749 §5.2', async (_name, headers, body, status, error) => {
    const { endpoint } = make();
    const answer = await endpoint.handle(
      request(body, { ...headers, 'content-type': 'application/x-www-form-urlencoded' }),
    );
    expect(answer.status).toBe(status);
    expect(answer.body.error).toBe(error);
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(JSON.stringify(answer)).not.toContain(secret);
  });

  it('challenges Basic clients with WWW-Authenticate and audits failed authentication', async () => {
    const { endpoint, events } = make();
    const answer = await endpoint.handle(
      request('grant_type=client_credentials', { authorization: basic('crm', 'nope') }),
    );
    expect(answer.headers['www-authenticate']).toBe('Basic realm="token"');
    expect(events).toEqual([
      { type: 'token.issued', outcome: 'failure', reason: 'invalid_client', client: 'crm' },
    ]);
    await endpoint.handle(
      request('grant_type=client_credentials', { authorization: basic('x', 'y') }),
    );
    // An unknown client id is never written to the trail.
    expect(events[1]).toEqual({
      type: 'token.issued',
      outcome: 'failure',
      reason: 'invalid_client',
    });
  });

  it('refuses other methods with 405', async () => {
    const { endpoint } = make();
    const answer = await endpoint.handle(request(undefined, {}, 'GET'));
    expect(answer.status).toBe(405);
    expect(answer.headers.allow).toBe('POST');
  });

  it('refuses short client secrets and secrets of unknown clients at start-up', () => {
    const { endpoint } = make();
    expect(endpoint).toBeDefined();
    const issuer = new TokenIssuer({
      issuer: 'https://issuer.test/',
      audience: 'api',
      keys: staticSigningKey({ kid: 'k1', alg: 'ES256', key: privateKey }),
      clients: { crm: { scopes: ['a'] } },
    });
    expect(() => new TokenEndpoint({ issuer, clientSecrets: { crm: 'short' } })).toThrow(
      ConfigError,
    );
    expect(() => new TokenEndpoint({ issuer, clientSecrets: { other: secret } })).toThrow(
      /not a client of the issuer/,
    );
  });

  it('reads a body stream up to the size cap', async () => {
    expect(
      await readTokenRequestBody(Readable.from([Buffer.from('a=1'), Buffer.from('&b=2')])),
    ).toBe('a=1&b=2');
    expect(await readTokenRequestBody(Readable.from([Buffer.alloc(9000)]))).toBeUndefined();
  });

  it('serves a JWKS answer that can be cached', () => {
    const answer = jwksResponse({ jwks: () => ({ keys: [] }) }, 60);
    expect(answer).toEqual({
      status: 200,
      headers: { 'cache-control': 'public, max-age=60' },
      body: { keys: [] },
    });
  });
});
