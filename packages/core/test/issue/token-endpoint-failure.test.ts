import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  staticSigningKey,
  StoreUnavailableError,
  TokenEndpoint,
  TokenIssuer,
} from '@tokenwarden/core';
import { newKeyPair, type TokenRequestView } from '@tokenwarden/core/internal';

const secret = randomBytes(32).toString('base64url');

function make(failure: Error) {
  const { privateKey } = newKeyPair('ec', { namedCurve: 'prime256v1' });
  const issuer = new TokenIssuer({
    issuer: 'https://issuer.test/',
    audience: 'api',
    keys: staticSigningKey({ kid: 'k1', alg: 'ES256', key: privateKey }),
    clients: { crm: { scopes: ['customers:read'] } },
  });
  issuer.issue = () => {
    throw failure;
  };
  const logged: { message: string; fields?: object }[] = [];
  const endpoint = new TokenEndpoint({
    issuer,
    clientSecrets: { crm: secret },
    logger: { error: (message, fields) => logged.push({ message, fields }) },
  });
  return { endpoint, logged };
}

const request: TokenRequestView = {
  method: 'POST',
  header: (name) =>
    ({
      authorization: `Basic ${Buffer.from(`crm:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    })[name],
  body: 'grant_type=client_credentials',
};

describe('TokenEndpoint failures', () => {
  it('answers a generic 500 without the error text, and logs it once a minute per kind', async () => {
    const { endpoint, logged } = make(new Error('kms at 10.0.0.9 refused the key'));
    const first = await endpoint.handle(request);
    expect(first).toEqual({
      status: 500,
      headers: { 'cache-control': 'no-store', pragma: 'no-cache' },
      body: {
        error: 'server_error',
        error_description: 'the token request could not be completed',
      },
    });
    expect(JSON.stringify(first)).not.toContain('10.0.0.9');
    await endpoint.handle(request);
    expect(logged).toEqual([
      {
        message: 'token endpoint: a token request failed',
        fields: { error: 'Error: kms at 10.0.0.9 refused the key' },
      },
    ]);
  });

  it('answers 503 temporarily_unavailable when a store is unavailable', async () => {
    const { endpoint, logged } = make(new StoreUnavailableError('redis down'));
    const answer = await endpoint.handle(request);
    expect([answer.status, answer.body.error, answer.headers['retry-after']]).toEqual([
      503,
      'temporarily_unavailable',
      '1',
    ]);
    expect(logged).toEqual([]);
  });
});
